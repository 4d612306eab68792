"""Stacked non-negative sparse-coding layers with a softmax classifier (Bowren §4.2–4.3, §5.1), the plain
CNN that computes the same function, and a layer that runs unrolled FISTA on the per-patch LASSO.

Every layer codes each sliding-window patch p of its input with a dictionary Φ whose columns are the
(unit-norm) filters: the orthogonal closed form is ReLU(Φᵀp − λ), a conv layer with bias −λ.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from scpaper import csc, train
from scpaper.data import load_mnist, mnist_size


class NonNegSC(nn.Module):
    """ReLU(conv2d(x, W) − λ): non-negative orthogonal sparse coding of every patch, with learnable λ (bias −λ).

    Filters are dictionary atoms and are kept at unit ℓ2 norm; with lam_min set, λᵢ ≥ lam_min is kept too.
    Both constraints are projections applied before every forward pass (projected SGD).
    """

    def __init__(self, in_channels: int, n_filters: int, kernel_size: int, stride: int = 1, lam_min: float | None = None,
                 positive_init: bool = False) -> None:
        super().__init__()
        if lam_min is not None and (lam_min < 0 or not math.isfinite(lam_min)):
            raise ValueError(f"lam_min must be a finite λ ≥ 0, got {lam_min}")
        conv = nn.Conv2d(in_channels, n_filters, kernel_size, stride)  # PyTorch's default initialisation
        self.weight = nn.Parameter(conv.weight.detach().clone())
        lam = -conv.bias.detach().clone()  # about half negative; positive_init takes |λ| so every λᵢ ≥ 0 (§5.1)
        self.lam = nn.Parameter(lam.abs() if positive_init else lam)
        self.stride, self.lam_min = stride, lam_min
        self.project()

    @torch.no_grad()
    def project(self) -> None:
        """Rescale filters to unit norm and, if lam_min is set, raise every λᵢ to at least lam_min."""
        self.weight.copy_(csc.unit_filters(self.weight))
        if self.lam_min is not None:
            self.lam.clamp_(min=self.lam_min)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Non-negative codes (N, n_filters, H', W') of every patch of x."""
        self.project()
        return F.relu(F.conv2d(x, self.weight, -self.lam, self.stride))


class LassoSC(NonNegSC):
    """Non-orthogonal non-negative sparse coding of every patch: `steps` unrolled FISTA steps on
    min ½‖p − Φa‖² + Σλᵢaᵢ, a ≥ 0, from a = 0 with step size `step` (default 1/L, L = ‖ΦᵀΦ‖₂).

    In conv form Φᵀp is conv2d(x, W) and ΦᵀΦa a 1×1 convolution with the Gram matrix, so a step costs
    one small matrix product per position. One step of size 1 from a = 0 is exactly the NonNegSC layer.
    """

    def __init__(self, in_channels: int, n_filters: int, kernel_size: int, stride: int = 1, lam_min: float = 0.0,
                 steps: int = 5, step: float | None = None, positive_init: bool = False) -> None:
        if steps <= 0 or (step is not None and step <= 0):
            raise ValueError(f"steps and step must be positive, got {steps}, {step}")
        super().__init__(in_channels, n_filters, kernel_size, stride, lam_min, positive_init)
        self.steps, self.step = steps, step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """FISTA iterate after `steps` steps for every patch of x, shape (N, n_filters, H', W'), in the weights' dtype
        even under autocast (the Gram matrix and the small differences Gz − c would lose their digits in bf16)."""
        with torch.autocast(x.device.type, enabled=False):
            return self._fista(x.to(self.weight.dtype))

    def _fista(self, x: torch.Tensor) -> torch.Tensor:
        """forward() without the autocast guard."""
        self.project()
        c = F.conv2d(x, self.weight, stride=self.stride)
        D = self.weight.flatten(1)
        G = D @ D.T
        eta = self.step if self.step is not None else 1.0 / float(torch.linalg.eigvalsh(G.detach().double())[-1])
        lam = self.lam.view(1, -1, 1, 1)
        a = z = torch.zeros_like(c)
        t = 1.0
        for _ in range(self.steps):
            a_next = F.relu(z - eta * (torch.einsum("ij,njhw->nihw", G, z) - c + lam))
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = a_next + (t - 1) / t_next * (a_next - a)
            a, t = a_next, t_next
        return a


class OrthSC(NonNegSC):
    """ReLU(conv2d(x, W) − λ) with orthonormal flattened filters (WWᵀ = I) and λᵢ ≥ lam_min ≥ 0, both restored by
    projection before every forward pass: exactly non-negative orthogonal sparse coding of every patch (Bowren eq 45)."""

    def __init__(self, in_channels: int, n_filters: int, kernel_size: int, stride: int = 1, lam_min: float = 0.0,
                 positive_init: bool = True) -> None:
        if n_filters > in_channels * kernel_size**2:
            raise ValueError(f"{n_filters} filters cannot be orthonormal in {in_channels * kernel_size**2} dimensions")
        super().__init__(in_channels, n_filters, kernel_size, stride, lam_min, positive_init)

    @torch.no_grad()
    def project(self) -> None:
        """Replace the filters by the nearest orthonormal set (polar factor) and raise every λᵢ to at least lam_min."""
        self.weight.copy_(csc.orthonormalize_filters(self.weight))
        self.lam.clamp_(min=self.lam_min)


class SCNet(nn.Module):
    """Stacked sparse-coding layers (no pooling, no normalisation) and multinomial logistic regression on top."""

    def __init__(self, channels: tuple[int, ...] = (1, 16, 32), kernel_sizes: tuple[int, ...] = (5, 5),
                 strides: tuple[int, ...] = (2, 2), image_size: int = 28, n_classes: int = 10,
                 lam_min: float | None = None, lasso_steps: int = 0, positive_init: bool = False,
                 orthonormal: bool = False) -> None:
        super().__init__()
        if not len(channels) - 1 == len(kernel_sizes) == len(strides) or len(strides) == 0:
            raise ValueError(f"need one kernel size and stride per layer, got {channels}, {kernel_sizes}, {strides}")
        if lasso_steps < 0:
            raise ValueError(f"lasso_steps must be ≥ 0, got {lasso_steps}")
        layers, size = [], image_size
        for cin, cout, k, s in zip(channels[:-1], channels[1:], kernel_sizes, strides):
            if orthonormal:
                layers.append(OrthSC(cin, cout, k, s, lam_min or 0.0, positive_init))
            elif lasso_steps:
                layers.append(LassoSC(cin, cout, k, s, lam_min or 0.0, lasso_steps, positive_init=positive_init))
            else:
                layers.append(NonNegSC(cin, cout, k, s, lam_min, positive_init))
            size = (size - k) // s + 1
        if size <= 0:
            raise ValueError(f"images of side {image_size} are too small for kernels {kernel_sizes} at strides {strides}")
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(channels[-1] * size * size, n_classes)

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The sparse code maps of every layer for images x (N, C, H, W)."""
        out = []
        for layer in self.layers:
            x = layer(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits: softmax regression on the last layer's codes."""
        return self.classifier(self.codes(x)[-1].flatten(1))


def to_cnn(model: SCNet) -> nn.Sequential:
    """The ordinary nn.Conv2d / nn.ReLU / nn.Linear network with the same weights (bias = −λ)."""
    if any(isinstance(layer, LassoSC) for layer in model.layers):
        raise ValueError("a LASSO layer has no plain-CNN twin; only NonNegSC layers do")
    modules: list[nn.Module] = []
    for layer in model.layers:
        layer.project()
        W = layer.weight.detach()
        conv = nn.Conv2d(W.shape[1], W.shape[0], W.shape[-1], layer.stride)
        with torch.no_grad():
            conv.weight.copy_(W)
            conv.bias.copy_(-layer.lam.detach())
        modules += [conv, nn.ReLU()]
    linear = nn.Linear(model.classifier.in_features, model.classifier.out_features)
    linear.load_state_dict(model.classifier.state_dict())
    return nn.Sequential(*modules, nn.Flatten(), linear).to(model.classifier.weight.device)


@torch.no_grad()
def twin_gap(model: SCNet, X: torch.Tensor, batch_size: int = 1000) -> dict[str, float]:
    """Run model and to_cnn(model) in float32 without autocast: max |logit difference| and share of equal predictions."""
    twin = to_cnn(model).eval()
    model.eval()
    device = model.classifier.weight.device
    diff, agree = 0.0, 0
    for i in range(0, len(X), batch_size):
        xb = X[i:i + batch_size].to(device)
        a, b = model(xb), twin(xb)
        diff = max(diff, float((a - b).abs().max()))
        agree += int((a.argmax(1) == b.argmax(1)).sum())
    return {"max_logit_diff": diff, "agreement": agree / len(X)}


@functools.lru_cache(maxsize=4)
def mnist_split(n_train: int, n_val: int, n_test: int, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST as (N, 1, 28, 28) float32: n_train training and n_val validation images from the training set, n_test test
    images (memoised: callers must not modify the returned tensors)."""
    if not 0 < n_train + n_val <= mnist_size("train") or not 0 < n_test <= mnist_size("test"):
        raise ValueError(f"sizes out of range: n_train={n_train}, n_val={n_val}, n_test={n_test}")
    rest, val = train.validation_indices(mnist_size("train"), n_val, seed)  # the rows of train.validation_split
    (Xtr, ytr), (Xv, yv) = (load_mnist("train", rows.numpy()) for rows in (rest[:n_train], val))
    Xt, yt = load_mnist("test", slice(0, n_test))
    return {"train": (Xtr[:, None], ytr), "val": (Xv[:, None], yv), "test": (Xt[:, None], yt)}


def no_decay_on_lambda(name: str) -> dict[str, float]:
    """train.fit parameter groups: no weight decay on the thresholds λ, defaults elsewhere."""
    return {"weight_decay": 0.0} if name.endswith("lam") else {}


def trained(arch: dict, *, n_train: int, n_val: int, epochs: int, batch_size: int, lr: float, seed: int,
            device: torch.device, lam_decay: bool = True) -> dict:
    """Train SCNet(**arch) on MNIST with cross-entropy (scpaper.train.fit), weight decay on λ unless lam_decay is
    False; return its CPU state, losses and the λ of every layer at initialisation."""
    data = mnist_split(n_train, n_val, 1, seed)
    torch.manual_seed(seed)
    model = SCNet(**arch)
    initial = [layer.lam.detach().clone() for layer in model.layers]
    losses = train.fit(model, *data["train"], epochs=epochs, batch_size=batch_size, lr=lr, device=device, seed=seed,
                       groups=None if lam_decay else no_decay_on_lambda)
    return {"arch": arch, "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "losses": losses,
            "initial_lam": initial}


def load(record: dict, device: torch.device | str = "cpu") -> SCNet:
    """Rebuild a trained SCNet from the record `trained` returns."""
    model = SCNet(**record["arch"])
    model.load_state_dict(record["state"])
    return model.to(device).eval()


def add_noise(X: torch.Tensor, sigma: float, seed: int = 0, clip: bool = True) -> torch.Tensor:
    """X plus Gaussian noise of standard deviation sigma (a fixed draw per seed), clipped to [0, 1] if clip
    (clipping makes the noise non-zero-mean: it adds a background offset to the zeros of a digit)."""
    if sigma < 0:
        raise ValueError(f"sigma must be ≥ 0, got {sigma}")
    noise = torch.randn(X.shape, generator=torch.Generator().manual_seed(seed), dtype=X.dtype)
    return (X + sigma * noise).clamp(0, 1) if clip else X + sigma * noise


@torch.no_grad()
def activity(model: SCNet, X: torch.Tensor, batch_size: int = 1000) -> list[float]:
    """Share of non-zero code entries in every layer on images X."""
    device = model.classifier.weight.device
    active = [0.0] * len(model.layers)
    total = [0] * len(model.layers)
    for i in range(0, len(X), batch_size):
        for j, a in enumerate(model.codes(X[i:i + batch_size].to(device))):
            active[j] += float((a > 0).sum())
            total[j] += a.numel()
    return [a / t for a, t in zip(active, total)]


def negative_lambda_share(model: SCNet) -> float:
    """Share of units whose learned λᵢ is negative (bias > 0): outside the sparse-coding model."""
    return negative_count(model) / sum(layer.lam.numel() for layer in model.layers)


def negative_count(model: SCNet) -> int:
    """Number of units whose learned λᵢ is negative."""
    return int(sum(int((layer.lam.detach() < 0).sum()) for layer in model.layers))


def variants(lam_mins: tuple[float, ...], lasso_steps: int) -> dict[str, dict]:
    """The §5.1 study's models (name → SCNet arguments; every one starts from λᵢ ≥ 0): free λ (a CNN), λ ≥ λ_min
    for each λ_min, orthonormal filters with λ ≥ 0 (exact sparse coding), and the unrolled-LASSO layer (λ ≥ 0)."""
    out: dict[str, dict] = {"free λ (CNN)": {"lam_min": None}}
    out.update({f"λ ≥ {m:g}": {"lam_min": float(m)} for m in lam_mins})
    out["orthonormal SC, λ ≥ 0"] = {"lam_min": 0.0, "orthonormal": True}
    out[f"LASSO, {lasso_steps} FISTA steps"] = {"lam_min": 0.0, "lasso_steps": lasso_steps}
    return {name: {**extra, "positive_init": True} for name, extra in out.items()}


def lasso_layer_gap(layer: LassoSC, x: torch.Tensor) -> dict[str, float]:
    """How far the unrolled layer's output is from the certified per-patch LASSO code: relative gap and certified share."""
    layer.project()
    with torch.no_grad():
        out = layer(x).double()
        codes, result = csc.patch_lasso(x.double(), layer.weight.detach().double(), layer.lam.detach().double(), layer.stride)
    return {"relative_gap": float((out - codes).norm() / codes.norm().clamp_min(1e-300)),
            "certified": float(result.certified_fraction)}
