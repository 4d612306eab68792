"""Unrolled multi-layer pursuits (Sulam et al.): ML-ISTA, ML-FISTA and layered BP nets vs the CNN.

Three convolutional dictionaries as in their MNIST experiment: D₁ (m₁,1,6,6) stride 2, D₂ (m₂,m₁,6,6)
stride 2, D₃ (m₃,m₂,4,4) stride 1, so a 28×28 digit gives a 1×1×m₃ deepest code read by a linear layer.
Dᵢᵀ is conv2d, Dᵢ is conv_transpose2d (exact adjoints at these sizes). T = 0 is the CNN's forward pass
ReLU(DᵢᵀΓᵢ₋₁ + bᵢ) (layered thresholding), which also starts every pursuit; every T adds iterations with
the same weights, so all nets share one parameter count.

Every unrolled step scales Dᵢᵀ by a step ηᵢ (Sulam et al.'s learnable scalar cᵢ, initialised at 1), bounded
so that it stays a convergent proximal-gradient step: ηᵢ = min(|cᵢ|, 1/Lᵢ) with Lᵢ ≈ λ_max(DᵢᵀDᵢ) from a
warm-started power iteration (not differentiated). The forward pass keeps step 1, like any CNN layer: with
the bounded step there too, a layer's gain could not grow with its dictionary and the CNN barely trained.
The nets always run in float32, also under autocast.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


KERNELS = (6, 6, 4)
STRIDES = (2, 2, 1)
MODES = ("ista", "fista", "lbp")
INIT_GAIN = 0.3  # N(0,1)·gain/√fan_in; Sulam et al. use 0.1, which trains too slowly for a few CPU epochs
POWER_STEPS = 2  # power-iteration steps per training call (warm-started)
FRESH_STEPS = 200  # power-iteration steps on a new shape (a few small convolutions each)


class UnrolledNet(nn.Module):
    """A three-layer ML-CSC pursuit unrolled T times, with mode 'ista', 'fista' or 'lbp' (layered BP)."""

    def __init__(self, widths: tuple[int, int, int], T: int, mode: str = "ista", n_classes: int = 10,
                 init_gain: float = INIT_GAIN) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        if T < 0 or len(widths) != 3 or min(widths) <= 0:
            raise ValueError(f"T must be ≥ 0 and widths three positive numbers, got {T}, {widths}")
        self.T, self.mode = T, mode
        shapes = [(widths[0], 1), (widths[1], widths[0]), (widths[2], widths[1])]
        self.W = nn.ParameterList([nn.Parameter(init_gain * torch.randn(m, c, k, k) / math.sqrt(c * k * k))
                                   for (m, c), k in zip(shapes, KERNELS)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(1, m, 1, 1)) for m, _ in shapes])
        self.c = nn.Parameter(torch.ones(3))
        self.readout = nn.Linear(widths[2], n_classes)
        self.register_buffer("lipschitz", torch.full((3,), math.nan), persistent=False)
        self._v: list[torch.Tensor | None] = [None, None, None]

    def Dt(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Dᵢᵀx (a strided convolution)."""
        return F.conv2d(x, self.W[i], stride=STRIDES[i])

    @torch.no_grad()
    def power_iteration(self, i: int, shape: tuple[int, ...]) -> float:
        """Update and return Lᵢ ≈ λ_max(DᵢᵀDᵢ) on codes of shape (mᵢ, H, W), warm-started between calls."""
        v = self._v[i]
        fresh = v is None or tuple(v.shape[1:]) != tuple(shape) or v.device != self.W[i].device \
            or v.dtype != self.W[i].dtype
        if fresh:
            gen = torch.Generator().manual_seed(i)
            v = torch.randn(1, *shape, generator=gen, dtype=self.W[i].dtype).to(self.W[i].device)
        for _ in range(FRESH_STEPS if fresh else POWER_STEPS):
            v = self.Dt(i, self.D(i, v))
            v = v / v.norm()
        self._v[i] = v
        self.lipschitz[i] = (self.Dt(i, self.D(i, v)) * v).sum()
        return float(self.lipschitz[i])

    def steps(self, shapes: list[tuple[int, ...]]) -> torch.Tensor:
        """The three steps ηᵢ = min(|cᵢ|, 1/Lᵢ) (differentiable in cᵢ); Lᵢ refreshed in training or when unknown."""
        for i, shape in enumerate(shapes):
            if self.training or not math.isfinite(float(self.lipschitz[i])) or self._v[i] is None \
                    or tuple(self._v[i].shape[1:]) != tuple(shape):
                self.power_iteration(i, shape)
        c = self.c.abs().clamp_min(1e-12)
        return c * torch.clamp(1 / (c.detach() * self.lipschitz.to(c)), max=1.0)

    def D(self, i: int, g: torch.Tensor) -> torch.Tensor:
        """DᵢΓ (the transposed convolution)."""
        return F.conv_transpose2d(g, self.W[i], stride=STRIDES[i])

    def step(self, i: int, g: torch.Tensor, signal: torch.Tensor, eta: torch.Tensor | float) -> torch.Tensor:
        """One projected-gradient step on layer i: ReLU(Γ − ηᵢDᵢᵀ(DᵢΓ − signal) + bᵢ)."""
        return F.relu(g - eta * self.Dt(i, self.D(i, g) - signal) + self.b[i])

    def code_shapes(self, x: torch.Tensor) -> list[tuple[int, ...]]:
        """The shapes (mᵢ, H, W) of Γ₁, Γ₂, Γ₃ for inputs shaped like x."""
        shapes, size = [], x.shape[-1]
        for i, k in enumerate(KERNELS):
            size = (size - k) // STRIDES[i] + 1
            shapes.append((self.W[i].shape[0], size, size))
        return shapes

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Γ₁, Γ₂, Γ₃ after the forward pass and T iterations of the chosen pursuit (in the weights' dtype)."""
        with torch.autocast(x.device.type, enabled=False):
            return self._codes(x.to(self.W[0].dtype))

    def _codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """codes() without the autocast guard."""
        eta = self.steps(self.code_shapes(x))
        g = []
        for i in range(3):
            g.append(F.relu(self.Dt(i, g[-1] if g else x) + self.b[i]))  # the CNN layer starts the pursuit
            if self.mode == "lbp":  # layered BP: finish layer i's own pursuit before moving on
                for _ in range(self.T):
                    g[i] = self.step(i, g[i], g[i - 1] if i else x, eta[i])
        if self.mode == "lbp":
            return g
        t, z = 1.0, g[2]  # ML-ISTA sweeps on Γ₃ from the forward pass; ML-FISTA extrapolates as fista.iterate does
        for _ in range(self.T):
            previous = g[2]
            g[1] = self.D(2, z)  # project the deepest estimate down: Γ₂ = D₃Γ₃, Γ₁ = D₂Γ₂
            g[0] = self.D(1, g[1])
            g[0] = self.step(0, g[0], x, eta[0])
            g[1] = self.step(1, g[1], g[0], eta[1])
            g[2] = self.step(2, z, g[1], eta[2])
            z = g[2]
            if self.mode == "fista":
                t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
                z, t = g[2] + (t - 1) / t_next * (g[2] - previous), t_next
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of digits x (B, 1, 28, 28) or (B, 28, 28), computed in float32 even under autocast."""
        x = x.unsqueeze(1) if x.dim() == 3 else x
        with torch.autocast(x.device.type, enabled=False):
            return self.readout(self._codes(x.to(self.W[0].dtype))[2].flatten(1))


def n_parameters(model: nn.Module) -> int:
    """Number of trainable scalars of model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def exact_lipschitz(net: UnrolledNet, x: torch.Tensor) -> list[float]:
    """λ_max(DᵢᵀDᵢ) of each layer at x's shapes, from the dense operator's largest singular value (float64):
    an estimate independent of the net's warm-started power iteration."""
    codes = net.code_shapes(x)
    signals = [tuple(x.shape[1:])] + codes[:-1]
    out = []
    for i, (signal, code) in enumerate(zip(signals, codes)):
        W = net.W[i].detach().double()
        side = code if math.prod(code) <= math.prod(signal) else signal  # the smaller identity
        basis = torch.eye(math.prod(side), dtype=torch.float64, device=W.device).reshape(-1, *side)
        op = F.conv_transpose2d(basis, W, stride=STRIDES[i]) if side == code else F.conv2d(basis, W, stride=STRIDES[i])
        out.append(float(torch.linalg.matrix_norm(op.flatten(1), ord=2)) ** 2)
    return out
