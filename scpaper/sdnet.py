"""SDNet: a convolutional-sparse-coding (CSC) layer as the stem of a CIFAR ResNet-18, after Dai, Li et al. (2022).

The CSC layer computes non-negative codes c ≈ argmin_{c ≥ 0} λ‖c‖₁ + ½‖x − Dc‖² by a fixed number of
unrolled ISTA (or FISTA) steps, where Dᵀx = conv2d(x, W) and Dc = conv_transpose2d(c, W) for a bank W of
unit-norm atoms. Gradients flow through the unrolled steps by autograd.
"""

from __future__ import annotations

import copy
import math
import time
import torch
from torch import nn
from torch.nn import functional as F

from scpaper import data, train
from scpaper.fista import T_AFTER_FIRST_STEP, iterate

ARCHS = ("resnet", "sdnet")


def _unit_atoms(weight: torch.Tensor) -> torch.Tensor:
    """Rescale every atom (one output channel of a conv weight) to unit ℓ2 norm."""
    return weight / weight.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


class CSCLayer(nn.Module):
    """Non-negative convolutional LASSO solved by n_iter unrolled ISTA/FISTA steps from zero.

    Parameters: in_channels (M), n_atoms (C), kernel_size k, padding; lam is the ℓ1 weight (settable at
    test time); step η = 0.9/L with L ≈ ‖DᵀD‖ from a warm-started power iteration (power_steps per call).
    fista=False gives SDNet's code path (its momentum starts at step 3, so 2 steps are plain ISTA).
    """

    def __init__(self, in_channels: int = 3, n_atoms: int = 64, kernel_size: int = 3, padding: int = 1, *,
                 lam: float = 0.1, n_iter: int = 2, fista: bool = False, power_steps: int = 2) -> None:
        super().__init__()
        if n_iter < 1 or power_steps < 1:
            raise ValueError(f"n_iter and power_steps must be ≥ 1, got {n_iter} and {power_steps}")
        self.weight = nn.Parameter(torch.empty(n_atoms, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.padding, self.n_iter, self.fista, self.power_steps = padding, n_iter, fista, power_steps
        self.lam = lam
        self.register_buffer("_v", torch.empty(0), persistent=False)
        self.register_buffer("_L", torch.full((), float("nan")), persistent=False)  # ‖DᵀD‖ on the device: no host sync per step
        self._estimated = False  # a Python flag, so forward never reads the GPU to decide

    @property
    def lam(self) -> float:
        """The ℓ1 weight λ of the layer's LASSO."""
        return self._lam

    @lam.setter
    def lam(self, value: float) -> None:
        if not value >= 0:
            raise ValueError(f"λ must be non-negative, got {value}")
        self._lam = float(value)

    @property
    def lipschitz(self) -> float:
        """The last estimate of L ≈ ‖DᵀD‖ as a Python float (reading it waits for the device)."""
        return float(self._L)

    def atoms(self) -> torch.Tensor:
        """The dictionary's unit-norm atoms, shape (C, M, k, k)."""
        return _unit_atoms(self.weight)

    def adjoint(self, x: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """Dᵀx: correlate the image with every atom."""
        return F.conv2d(x, self.atoms() if W is None else W, padding=self.padding)

    def synthesize(self, c: torch.Tensor, W: torch.Tensor | None = None) -> torch.Tensor:
        """Dc: sum of atoms placed by the code maps."""
        return F.conv_transpose2d(c, self.atoms() if W is None else W, padding=self.padding)

    @torch.no_grad()
    def _power_steps(self, shape: tuple[int, int], steps: int) -> torch.Tensor:
        """Warm-started power iteration on DᵀD in fp32 (autocast off); L as a 0-d tensor on the weight's device."""
        with torch.autocast(self.weight.device.type, enabled=False):
            W = self.atoms().float()
            size = (1, W.shape[0], *shape)
            if self._v.shape != size:
                self._v = torch.randn(size, device=W.device, generator=torch.Generator(W.device).manual_seed(0))
            v = self._v.to(W.device, torch.float32)
            for _ in range(steps):
                v = self.adjoint(self.synthesize(v, W), W)
                v = v / v.norm()
            self._v = v
            self._L = self.adjoint(self.synthesize(v, W), W).flatten().dot(v.flatten()).to(self._L.dtype)
        self._estimated = True
        return self._L

    def power_iteration(self, shape: tuple[int, int], steps: int | None = None) -> float:
        """Update and return L ≈ ‖DᵀD‖ on code maps of spatial size shape (warm-started between calls)."""
        return float(self._power_steps(shape, steps or self.power_steps))

    def _code_shape(self, x: torch.Tensor) -> tuple[int, int]:
        """Spatial size of the code maps for input x."""
        k = self.weight.shape[-1]
        return x.shape[-2] + 2 * self.padding - k + 1, x.shape[-1] + 2 * self.padding - k + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (B, C, H', W') after n_iter non-negative ISTA/FISTA steps from zero, in fp32 even under autocast.

        Under bf16 autocast the thresholds ηλ and the differences Dᵀx − DᵀDc would lose most of their
        digits, so the layer turns autocast off and computes in (at least) fp32; the step η stays a
        device tensor, so a training step never waits for the host.
        """
        if x.dim() != 4 or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"expected input (B, {self.weight.shape[1]}, H, W), got {tuple(x.shape)}")
        shape = self._code_shape(x)
        if self.training or self._v.shape[-2:] != shape or not self._estimated:
            self._power_steps(shape, self.power_steps if self._v.shape[-2:] == shape else 50)
        with torch.autocast(x.device.type, enabled=False):
            dtype = torch.promote_types(self.weight.dtype, torch.float32)
            x, W = x.to(dtype), self.atoms().to(dtype)
            eta = 0.9 / self._L.to(dtype)
            Dtx = self.adjoint(x, W)
            c = F.relu(eta * (Dtx - self._lam))  # the first step from zero, without the zero products
            return iterate(lambda z: F.relu(z + eta * (Dtx - self.adjoint(self.synthesize(z, W), W) - self._lam)),
                           c, self.n_iter - 1, momentum=self.fista, t=T_AFTER_FIRST_STEP)

    def residual(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Per-image reconstruction error ‖x − Dc‖₂ (Algorithm 1's r)."""
        return (x - self.synthesize(c)).flatten(1).norm(dim=1)


def dictionary_matrix(layer: CSCLayer, shape: tuple[int, int]) -> torch.Tensor:
    """The layer's synthesis operator D as an explicit matrix (M·H·W × C·H'·W') for images of spatial size shape."""
    C = layer.weight.shape[0]
    h, w = shape
    hc, wc = layer._code_shape(torch.empty(1, layer.weight.shape[1], h, w))
    basis = torch.eye(C * hc * wc, dtype=layer.weight.dtype).view(-1, C, hc, wc)
    with torch.no_grad():
        columns = layer.synthesize(basis)
    return columns.flatten(1).T.contiguous()


class Normalize(nn.Module):
    """Per-channel (x − mean)/std, so the networks take images in [0, 1]."""

    def __init__(self, mean: tuple[float, ...] = data.CIFAR10_MEAN, std: tuple[float, ...] = data.CIFAR10_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images."""
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    """ResNet's two-conv residual block with a projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """relu(bn(conv(relu(bn(conv x)))) + shortcut x)."""
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR ResNet-18 (3×3 stem, stride 1, no max-pool) with stage widths width·(1, 2, 4, 8).

    With csc=None the stem is conv → BN → ReLU; with a CSCLayer it is CSC → BN (SDNet-18).
    Input: images in [0, 1], shape (B, 3, 32, 32).
    """

    def __init__(self, width: int = 64, n_classes: int = 10, csc: CSCLayer | None = None) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be ≥ 1, got {width}")
        self.normalize = Normalize()
        self.csc = csc
        self.stem = (nn.Sequential(csc, nn.BatchNorm2d(width)) if csc is not None else
                     nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()))
        blocks, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width, 8 * width)):
            for j in range(2):
                blocks.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        h = self.blocks(self.stem(self.normalize(x)))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    def stem_residual(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image CSC residual ‖x̃ − Dc‖₂ of the normalised input x̃ (SDNet only)."""
        if self.csc is None:
            raise ValueError("stem_residual needs an SDNet (a network with a CSC stem)")
        xn = self.normalize(x)
        return self.csc.residual(xn, self.csc(xn))


def build(arch: str, width: int = 64, *, lam: float = 0.1, n_iter: int = 2, fista: bool = False) -> ResNet18:
    """A fresh ResNet-18 ('resnet') or SDNet-18 ('sdnet', a CSC stem of width atoms of size 3×3×3)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}: choose resnet or sdnet")
    csc = CSCLayer(3, width, 3, 1, lam=lam, n_iter=n_iter, fista=fista) if arch == "sdnet" else None
    return ResNet18(width, csc=csc)


def set_lambda(model: ResNet18, lam: float) -> ResNet18:
    """Set the test-time λ of an SDNet's CSC stem (in place) and return the model."""
    if model.csc is None:
        raise ValueError("set_lambda needs an SDNet (a network with a CSC stem)")
    model.csc.lam = lam
    return model


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1] (the networks' input)."""
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def _memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA (faster convolutions); contiguous on the CPU, whose channels_last backward is unsafe here."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def cifar_split(n_val: int, full: bool, seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """CIFAR-10 as uint8 'train', 'val' (held out from the training set) and 'test' pairs."""
    X, y = data.load_cifar10("train", full=full)
    Xtr, ytr, Xval, yval = train.validation_split(X, y, n_val, seed=seed)
    return {"train": (Xtr, ytr), "val": (Xval, yval), "test": data.load_cifar10("test", full=full)}


def trained(arch: str, width: int, *, n_train: int, n_val: int, full: bool, epochs: int, batch_size: int, lr: float,
            lam: float = 0.1, n_iter: int = 2, device: torch.device | str = "cpu", seed: int = 0) -> dict:
    """Train arch on the first n_train training images (validation split held out) with SDNet's recipe.

    Recipe: SGD Nesterov (momentum 0.9, weight decay 5e-4), cosine per step, random crop (pad 4) + flip on
    the device, bf16 autocast on CUDA. Returns {'state': state_dict on CPU, 'losses', 'val_acc', 'seconds'}.
    """
    torch.manual_seed(seed)
    device = torch.device(device)
    splits = cifar_split(n_val, full, seed)
    X, y = (t[:n_train].to(device) for t in splits["train"])
    model = build(arch, width, lam=lam, n_iter=n_iter).to(device, memory_format=_memory_format(device))
    start = time.perf_counter()
    losses = train.fit(model, X, y, epochs=epochs, batch_size=batch_size, lr=lr, prepare=to_unit,
                       augment=train.crop_flip, device=device, seed=seed)
    seconds = time.perf_counter() - start
    Xv, yv = splits["val"]
    val_acc = train.accuracy(model, Xv, yv, prepare=to_unit, device=device)
    return {"state": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "losses": losses,
            "val_acc": val_acc, "seconds": seconds}


def load(arch: str, width: int, record: dict, *, lam: float = 0.1, n_iter: int = 2,
         device: torch.device | str = "cpu") -> ResNet18:
    """Rebuild a trained network from the record returned by trained(), in eval mode on device."""
    model = build(arch, width, lam=lam, n_iter=n_iter)
    model.load_state_dict(record["state"])
    return model.to(device).eval()


def saved_bytes(model: nn.Module, batch: torch.Tensor) -> int:
    """Bytes of activations autograd keeps for the backward pass of one cross-entropy step on batch: every saved
    tensor's storage once, the parameters' own storages (also saved, for the input gradients) left out."""
    total = 0
    batch = batch.clone()  # its own storage: a slice of a larger batch would count the whole of it
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = t.untyped_storage()
        if storage.data_ptr() not in params and storage.data_ptr() not in seen:  # saved tensors stay alive: no reuse
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(batch).logsumexp(1).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return total


def throughput(models: dict[str, nn.Module], *, batch_size: int, steps: int, device: torch.device | str = "cpu",
               rounds: int = 3, seed: int = 0, amp: bool = True) -> dict[str, dict[str, float]]:
    """Train and inference images/s, parameters and memory of each model, measured in interleaved rounds.

    Random CIFAR-shaped inputs; SGD steps in channels_last on CUDA, under bf16 autocast when amp (the CSC stem
    stays fp32 either way; amp=False runs every layer in fp32, like for like with fp32 training). Each round times
    `steps` steps of every model in turn (after a warm-up step); the median round is reported ('<mode>_img_s')
    beside every round ('<mode>_rounds', paired across models by round). Memory is, on a GPU, the peak CUDA
    allocation of a training step after the first, less what was allocated before the model came to the device
    (the batch and the models measured before it), and, on every device, the activation bytes saved for backward.
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, 3, 32, 32, generator=gen).to(device, memory_format=_memory_format(device))
    y = torch.randint(0, 10, (batch_size,), generator=gen).to(device)
    on_gpu = device.type == "cuda"
    use_amp = on_gpu and amp

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize()

    def train_step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def infer_step(model: nn.Module, _: object) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            model(x)

    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in models}
    result: dict[str, dict[str, float]] = {}
    opts = {}
    for name, model in models.items():
        before = torch.cuda.memory_allocated(device) if on_gpu else 0  # the batch and the models measured already
        model.to(device, memory_format=_memory_format(device))
        opts[name] = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
        result[name] = {"params": float(sum(p.numel() for p in model.parameters())),
                        "saved_mb": saved_bytes(model, x[: min(batch_size, 128)]) / 2**20 * batch_size / min(batch_size, 128)}
        if on_gpu:  # a step in the steady state (momentum buffers resident), over what was allocated before this model
            model.train()
            train_step(model, opts[name])
            sync()
            torch.cuda.reset_peak_memory_stats(device)
            train_step(model, opts[name])
            sync()
            result[name]["peak_mb"] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    for _ in range(rounds):
        for mode, step in (("train", train_step), ("infer", infer_step)):
            for name, model in models.items():
                model.train(mode == "train")
                step(model, opts[name])
                sync()
                start = time.perf_counter()
                for _ in range(steps):
                    step(model, opts[name])
                sync()
                times[name][mode].append(batch_size * steps / (time.perf_counter() - start))
    for name in models:
        for mode in ("train", "infer"):
            result[name][f"{mode}_img_s"] = sorted(times[name][mode])[len(times[name][mode]) // 2]
            result[name][f"{mode}_rounds"] = list(times[name][mode])
    return result


def unrolled_codes(layer: CSCLayer, x: torch.Tensor, iterations: tuple[int, ...], fista: bool = False) -> dict[int, torch.Tensor]:
    """Codes of a copy of layer after each number of unrolled ISTA (or FISTA) steps in iterations."""
    probe = copy.deepcopy(layer).eval()
    probe.fista = fista
    out = {}
    with torch.no_grad():
        for n in iterations:
            probe.n_iter = n
            out[n] = probe(x)
    return out


def rescaled_cosine(codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image cosine similarity of codes (N, C, H, W) to target after the least-squares scale of each channel."""
    num = (codes * target).sum(dim=(0, 2, 3), keepdim=True)
    den = codes.pow(2).sum(dim=(0, 2, 3), keepdim=True)
    scaled = codes * torch.where(den > 0, num / den.clamp_min(1e-30), torch.zeros_like(den))
    a, b = scaled.flatten(1), target.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-30)


def support_overlap(codes: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-row |S ∩ S*| / max(|S|, |S*|) of the non-zero supports of codes and target (rows: images)."""
    s, t = codes.flatten(1) != 0, target.flatten(1) != 0
    return (s & t).sum(1) / torch.maximum(s.sum(1), t.sum(1)).clamp_min(1)


def lasso_gap(layer: CSCLayer, x: torch.Tensor, iterations: tuple[int, ...]) -> dict:
    """Distance of the layer's unrolled codes on small images x to the certified convolutional LASSO solution.

    The layer's synthesis operator is unfolded into an explicit matrix D and the non-negative LASSO
    min_c λ‖c‖₁ + ½‖x − Dc‖² is solved exactly (active set, Luther & Seung's certificate) with
    scpaper.lasso. Returns relative code errors ‖c_n − c*‖/‖c*‖ and objective gaps (F(c_n) − F*)/F*
    for ISTA (SDNet's path) and FISTA, with the certified fraction and the sparsity of c*; and, since the
    BatchNorm after the stem undoes any per-channel scale, the cosine similarity to c* after the best
    per-channel rescale of c_n and the support overlap |S ∩ S*| / max(|S|, |S*|) (both per image, averaged).
    """
    from scpaper import lasso

    probe = copy.deepcopy(layer).cpu().double()  # the exact solver and its explicit matrix run on the CPU
    x = x.detach().cpu().double()
    D = dictionary_matrix(probe, tuple(x.shape[-2:]))
    X = x.flatten(1)
    exact = lasso.solve(D, X, probe.lam, nonneg=True)
    star = exact.codes

    def objective(c: torch.Tensor) -> torch.Tensor:
        return probe.lam * c.sum(1) + 0.5 * (X - c @ D.T).pow(2).sum(1)

    f_star = objective(star)
    out = {"iterations": tuple(iterations), "certified_fraction": exact.certified_fraction,
           "nonzero_fraction": float((star > 0).double().mean())}
    for name, fista in (("ista", False), ("fista", True)):
        codes = unrolled_codes(probe, x, iterations, fista)
        err, gap, cosine, overlap = [], [], [], []
        for n in iterations:
            c = codes[n].flatten(1)
            err.append(float(((c - star).norm(dim=1) / star.norm(dim=1).clamp_min(1e-12)).mean()))
            gap.append(float(((objective(c) - f_star) / f_star.abs().clamp_min(1e-12)).mean()))
            cosine.append(float(rescaled_cosine(codes[n], star.view_as(codes[n])).mean()))
            overlap.append(float(support_overlap(c, star).mean()))
        out[f"{name}_error"], out[f"{name}_gap"] = err, gap
        out[f"{name}_cosine"], out[f"{name}_overlap"] = cosine, overlap
    return out


def benchmark(width: int, *, batch_size: int, steps: int, device: torch.device | str = "cpu", seed: int = 0,
              rounds: int = 3, amp: bool = True) -> dict:
    """throughput() of freshly built ResNet-18 and SDNet-18 of this width."""
    torch.manual_seed(seed)
    return throughput({arch: build(arch, width) for arch in ARCHS}, batch_size=batch_size, steps=steps,
                      device=device, seed=seed, rounds=rounds, amp=amp)


def activation_megabytes(width: int, batch_size: int = 8, seed: int = 0) -> dict[str, float]:
    """MB of activations autograd saves per image for a training step of fresh ResNet-18 and SDNet-18 (CPU, deterministic)."""
    torch.manual_seed(seed)
    x = torch.rand(batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    return {arch: saved_bytes(build(arch, width), x) / 2**20 / batch_size for arch in ARCHS}
