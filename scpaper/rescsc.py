"""Res-CSC: a residual block read as one ISTA step of convolutional sparse coding from a residual start.

Convolutional dictionaries act on feature maps with circular boundaries, so that every operator below is
a banded circulant matrix as in the CSC model: W of shape (m, c, k, k) holds m atoms of c×k×k, Dᵀ maps
c channels to m, D maps m channels back to c. Zhang & Zhang's layer update (slides eqs 3–4) is

    Γ¹ = S⁺_{β/L}((1/L)DᵀX + X₋₁ − (1/L)DᵀD X₋₁),

ISTA's first step on ½‖X − DΓ‖² + β‖Γ‖₁ (Γ ≥ 0) started at Γ⁰ = X₋₁ instead of 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from scpaper.data import CIFAR10_MEAN, CIFAR10_STD

READOUT_GRID = 4  # the last code is average-pooled to 4×4 before the linear read-out
INITS = ("gaussian", "delta", "identity")  # starts of the square dictionaries of a CSCNet


def _check_kernel(W: torch.Tensor) -> None:
    """One-line ValueError unless W is (m, c, k, k) with an odd k."""
    if W.dim() != 4 or W.shape[-1] != W.shape[-2] or W.shape[-1] % 2 == 0:
        raise ValueError(f"a convolutional dictionary is (m, c, k, k) with odd k, got shape {tuple(W.shape)}")


def _circular(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dimensions of x circularly by pad on every side."""
    return F.pad(x, (pad, pad, pad, pad), mode="circular") if pad else x


def analysis(x: torch.Tensor, W: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """Dᵀx: correlate the c-channel maps x with the m atoms of W (circular, same size, dilated)."""
    _check_kernel(W)
    return F.conv2d(_circular(x, dilation * (W.shape[-1] // 2)), W, dilation=dilation)


def synthesis(g: torch.Tensor, W: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """DΓ: the adjoint of analysis, summing every atom of W placed at its code's positions."""
    _check_kernel(W)
    return F.conv2d(_circular(g, dilation * (W.shape[-1] // 2)), W.transpose(0, 1).flip(-1, -2), dilation=dilation)


@torch.no_grad()
def lipschitz(W: torch.Tensor, size: tuple[int, int], dilation: int = 1) -> torch.Tensor:
    """λ_max(DᵀD) on an H×W circular grid, exactly: the largest ‖Ŵ(ω)‖₂² over the grid's frequencies."""
    _check_kernel(W)
    h, w = size
    r = W.shape[-1] // 2
    if dilation * W.shape[-1] > min(h, w):
        raise ValueError(f"a dilated {W.shape[-1]}×{W.shape[-1]} kernel (dilation {dilation}) does not fit a {h}×{w} grid")
    grid = W.new_zeros(*W.shape[:2], h, w)
    offsets = (torch.arange(W.shape[-1], device=W.device) - r) * dilation
    grid[:, :, offsets[:, None] % h, offsets[None, :] % w] = W
    spectrum = torch.fft.rfft2(grid).permute(2, 3, 0, 1)  # a real kernel's other half is the conjugate
    return torch.linalg.matrix_norm(spectrum, ord=2).amax() ** 2


def gram_kernel(W: torch.Tensor) -> torch.Tensor:
    """The (m, m, 2k−1, 2k−1) kernel K with DᵀDΓ = conv2d(Γ, K), circularly: DᵀD is itself a convolution."""
    _check_kernel(W)
    m, k = W.shape[0], W.shape[-1]
    size, centre, reach = 4 * k, 2 * k, k - 1
    deltas = W.new_zeros(m, m, size, size)
    deltas[torch.arange(m), torch.arange(m), centre, centre] = 1.0
    response = analysis(synthesis(deltas, W), W)
    patch = response[:, :, centre - reach:centre + reach + 1, centre - reach:centre + reach + 1]
    return patch.transpose(0, 1).flip(-1, -2)


def _per_channel(beta: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """β as a (1, m, 1, 1) tensor on like's device and dtype; one-line ValueError if negative."""
    b = torch.as_tensor(beta, dtype=like.dtype, device=like.device)
    if (b < 0).any():
        raise ValueError("thresholds β must be non-negative")
    return b.reshape(1, -1, 1, 1) if b.dim() else b


def layered_step(x: torch.Tensor, W: torch.Tensor, beta: torch.Tensor | float, L: float | torch.Tensor) -> torch.Tensor:
    """Slides eq 2: Γ¹ = S⁺_{β/L}((1/L)DᵀX), ISTA's first step from Γ⁰ = 0 (a conv + bias + ReLU layer)."""
    return F.relu((analysis(x, W) - _per_channel(beta, x)) / L)


def rescsc_step(x: torch.Tensor, x_prev: torch.Tensor, W: torch.Tensor, beta: torch.Tensor | float,
                L: float | torch.Tensor) -> torch.Tensor:
    """Slides eq 3: Γ¹ = S⁺_{β/L}((1/L)DᵀX + X₋₁ − (1/L)DᵀDX₋₁), ISTA's first step from Γ⁰ = X₋₁."""
    if x_prev.shape[1] != W.shape[0]:
        raise ValueError(f"X₋₁ must have one channel per atom ({W.shape[0]}), got {x_prev.shape[1]}")
    beta_t = _per_channel(beta, x_prev)
    return F.relu(x_prev + (analysis(x, W) - analysis(synthesis(x_prev, W), W) - beta_t) / L)


def rescsc_block(x: torch.Tensor, W1: torch.Tensor, beta1: torch.Tensor, L1: float, W2: torch.Tensor,
                 beta2: torch.Tensor, L2: float) -> torch.Tensor:
    """Slides' ResNet row: a plain step (eq 2) then a Res-CSC step (eq 3) that starts from the block's input."""
    return rescsc_step(layered_step(x, W1, beta1, L1), x, W2, beta2, L2)


class ResidualBlock(nn.Module):
    """A residual block X_i = ReLU(W_{i-1,i}X_{i-1} + b_i + W_{i-2,i}X_{i-2}) built from standard conv layers."""

    def __init__(self, channels: int, k: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, k, padding=k // 2, padding_mode="circular")
        self.conv2 = nn.Conv2d(channels, channels, k, padding=k // 2, padding_mode="circular")
        self.shortcut = nn.Conv2d(channels, channels, 2 * k - 1, padding=k - 1, padding_mode="circular", bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv–ReLU, conv, plus the shortcut convolution of the block's input, then ReLU."""
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.shortcut(x))


@torch.no_grad()
def resblock_from_rescsc(W1: torch.Tensor, beta1: torch.Tensor, L1: float, W2: torch.Tensor, beta2: torch.Tensor,
                         L2: float) -> ResidualBlock:
    """The slides' table as weights: conv = Dᵀ/L, bias = −β/L, shortcut = I − DᵀD/L (Γ⁰ = X₋₁)."""
    m, k = W2.shape[0], W2.shape[-1]
    if W1.shape != W2.shape or W2.shape[1] != m:
        raise ValueError(f"a residual block needs two square (m, m, k, k) dictionaries, got {tuple(W1.shape)}, {tuple(W2.shape)}")
    block = ResidualBlock(m, k).to(W2.dtype)
    identity = torch.zeros(m, m, 2 * k - 1, 2 * k - 1, dtype=W2.dtype)
    identity[torch.arange(m), torch.arange(m), k - 1, k - 1] = 1.0
    for conv, W, beta, L in ((block.conv1, W1, beta1, L1), (block.conv2, W2, beta2, L2)):
        conv.weight.copy_(W / L)
        conv.bias.copy_(-torch.as_tensor(beta, dtype=W2.dtype).expand(m) / L)
    block.shortcut.weight.copy_(identity - gram_kernel(W2) / L2)
    return block


class CSCNet(nn.Module):
    """A stack of ML-CSC layers on images: a stem step, blocks of two steps, 4×4 pooling, a linear read-out.

    residual=True makes the second step of each block a Res-CSC step (Γ⁰ = the block's input, slides eq 3);
    residual=False keeps every step a plain layered-thresholding step (Γ⁰ = 0, eq 2). Both nets have the
    same parameters (dictionaries and thresholds β = softplus(ρ) ≥ 0). Each dictionary is rescaled at every
    call to λ_max(DᵀD) = 1 (computed exactly, not differentiated), so L = 1 and every step is a true ISTA step.
    identity_shortcut=True (with residual) replaces the shortcut I − DᵀD by I: a ResNet block with the same
    parameters. rho0 sets the thresholds' start softplus(rho0). init sets the square dictionaries' start (the
    stem's is always Gaussian): "gaussian" is N(0, 1/fan_in); "delta" a random orthogonal centre tap plus
    N(0, 0.1²/fan_in) on every tap; "identity" the same with the identity as centre tap, the one orthogonal
    1×1 map that passes every non-negative code through the ReLU unchanged.
    """

    def __init__(self, n_blocks: int, width: int, residual: bool, in_channels: int = 3, n_classes: int = 10,
                 k: int = 3, identity_shortcut: bool = False, rho0: float = -4.0, init: str = "gaussian") -> None:
        super().__init__()
        if n_blocks < 0 or width <= 0:
            raise ValueError(f"n_blocks must be ≥ 0 and width > 0, got {n_blocks}, {width}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}: choose one of {', '.join(map(repr, INITS))}")
        if identity_shortcut and not residual:
            raise ValueError("identity_shortcut needs residual=True")
        self.residual, self.identity_shortcut = residual, identity_shortcut
        shapes = [(width, in_channels, k, k)] + [(width, width, k, k)] * (2 * n_blocks)
        self.dictionaries = nn.ParameterList([nn.Parameter(_initial(s, init if s[0] == s[1] else "gaussian")) for s in shapes])
        self.rhos = nn.ParameterList([nn.Parameter(torch.full((width,), float(rho0))) for _ in shapes])
        self.readout = nn.Linear(width * READOUT_GRID ** 2, n_classes)

    @property
    def depth(self) -> int:
        """Number of sparse-coding layers (convolutions) before the read-out."""
        return len(self.dictionaries)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of images x (B, C, H, W)."""
        return self.readout(F.adaptive_avg_pool2d(self.codes(x), READOUT_GRID).flatten(1))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's code of images x (B, C, H, W): what the read-out pools, in the weights' dtype even under autocast.

        In bf16 the residual correction Dᵀx − DᵀDy and the small thresholds β would lose most of their digits.
        """
        with torch.autocast(x.device.type, enabled=False):
            return self._codes(x.to(self.dictionaries[0].dtype))

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        """codes() without the autocast guard."""
        size = tuple(x.shape[-2:])
        Ds = [W / lipschitz(W.detach(), size).sqrt() for W in self.dictionaries]
        betas = [F.softplus(rho) for rho in self.rhos]
        g = layered_step(x, Ds[0], betas[0], 1.0)
        for i in range(1, self.depth, 2):
            y = layered_step(g, Ds[i], betas[i], 1.0)
            if self.identity_shortcut:
                g = F.relu(g + analysis(y, Ds[i + 1]) - betas[i + 1].view(1, -1, 1, 1))
            elif self.residual:
                g = rescsc_step(y, g, Ds[i + 1], betas[i + 1], 1.0)
            else:
                g = layered_step(y, Ds[i + 1], betas[i + 1], 1.0)
        return g


def _initial(shape: tuple[int, int, int, int], init: str) -> torch.Tensor:
    """A dictionary's starting weights: N(0, 1/fan_in), or small noise plus an orthogonal ('delta') or identity centre tap."""
    m, c, k, _ = shape
    W = torch.randn(shape) / (c * k * k) ** 0.5
    if init != "gaussian":
        W = 0.1 * W
        W[:, :, k // 2, k // 2] += torch.linalg.qr(torch.randn(m, c))[0] if init == "delta" else torch.eye(m, c)
    return W


def cifar_prepare(pool: int) -> nn.Module:
    """uint8 CIFAR batches → per-channel standardised floats, average-pooled by pool (1 keeps 32×32)."""
    return _CifarPrepare(pool)


class _CifarPrepare(nn.Module):
    """Standardise with CIFAR-10's channel means and deviations, then average-pool."""

    def __init__(self, pool: int) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map a uint8 batch to standardised float32 maps."""
        mean = torch.tensor(CIFAR10_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD, device=x.device).view(1, 3, 1, 1)
        z = (x.float() / 255 - mean) / std
        return F.avg_pool2d(z, self.pool) if self.pool > 1 else z


def random_block_outputs(channels: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs of a random Res-CSC block (float64) and of the residual block its weights map to, on random maps."""
    gen = torch.Generator().manual_seed(seed)
    W1, W2 = (torch.randn(channels, channels, 3, 3, generator=gen, dtype=torch.float64) for _ in range(2))
    beta1, beta2 = (torch.rand(channels, generator=gen, dtype=torch.float64) for _ in range(2))
    L1, L2 = (lipschitz(W, (size, size)) for W in (W1, W2))
    x = torch.rand(4, channels, size, size, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        return resblock_from_rescsc(W1, beta1, L1, W2, beta2, L2)(x), rescsc_block(x, W1, beta1, L1, W2, beta2, L2)
