"""Unrolled multi-layer pursuits (Sulam et al.): ML-ISTA, ML-FISTA and layered BP nets vs the CNN.

Three convolutional dictionaries as in their MNIST experiment: D₁ (m₁,1,6,6) stride 2, D₂ (m₂,m₁,6,6)
stride 2, D₃ (m₃,m₂,4,4) stride 1, so a 28×28 digit gives a 1×1×m₃ deepest code read by a linear layer.
Dᵢᵀ is conv2d, Dᵢ is conv_transpose2d (exact adjoints at these sizes). T = 0 is the CNN's forward pass
(layered thresholding); every T adds iterations with the same weights, so all nets share one parameter count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


KERNELS = (6, 6, 4)
STRIDES = (2, 2, 1)
MODES = ("ista", "fista", "lbp")
INIT_GAIN = 0.3  # keeps λ_max(DᵢᵀDᵢ) < 1 at initialisation, so the unit-step iterations start stable


class UnrolledNet(nn.Module):
    """A three-layer ML-CSC pursuit unrolled T times, with mode 'ista', 'fista' or 'lbp' (layered BP)."""

    def __init__(self, widths: tuple[int, int, int], T: int, mode: str = "ista", n_classes: int = 10) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")
        if T < 0 or len(widths) != 3 or min(widths) <= 0:
            raise ValueError(f"T must be ≥ 0 and widths three positive numbers, got {T}, {widths}")
        self.T, self.mode = T, mode
        shapes = [(widths[0], 1), (widths[1], widths[0]), (widths[2], widths[1])]
        self.W = nn.ParameterList([nn.Parameter(INIT_GAIN * torch.randn(m, c, k, k) / math.sqrt(c * k * k))
                                   for (m, c), k in zip(shapes, KERNELS)])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(1, m, 1, 1)) for m, _ in shapes])
        self.readout = nn.Linear(widths[2], n_classes)

    def Dt(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Dᵢᵀx (a strided convolution)."""
        return F.conv2d(x, self.W[i], stride=STRIDES[i])

    def D(self, i: int, g: torch.Tensor) -> torch.Tensor:
        """DᵢΓ (the transposed convolution)."""
        return F.conv_transpose2d(g, self.W[i], stride=STRIDES[i])

    def step(self, i: int, g: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
        """One projected-gradient step on layer i: ReLU(Γ − Dᵢᵀ(DᵢΓ − signal) + bᵢ) (step folded into Wᵢ)."""
        return F.relu(g - self.Dt(i, self.D(i, g) - signal) + self.b[i])

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Γ₁, Γ₂, Γ₃ after the forward pass and T iterations of the chosen pursuit."""
        g = []
        for i in range(3):
            g.append(F.relu(self.Dt(i, g[-1] if g else x) + self.b[i]))
            if self.mode == "lbp":  # layered BP: finish layer i's own pursuit before moving on
                for _ in range(self.T):
                    g[i] = self.step(i, g[i], g[i - 1] if i else x)
        if self.mode == "lbp":
            return g
        t, previous = 1.0, g[2]
        for _ in range(self.T):
            z = g[2]
            if self.mode == "fista":
                t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
                z, previous, t = g[2] + (t - 1) / t_next * (g[2] - previous), g[2], t_next
            g[1] = self.D(2, z)  # project the deepest estimate down: Γ₂ = D₃Γ₃, Γ₁ = D₂Γ₂
            g[0] = self.D(1, g[1])
            g[0] = self.step(0, g[0], x)
            g[1] = self.step(1, g[1], g[0])
            g[2] = self.step(2, z, g[1])
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of digits x (B, 1, 28, 28) or (B, 28, 28)."""
        x = x.unsqueeze(1) if x.dim() == 3 else x
        return self.readout(self.codes(x)[2].flatten(1))


def n_parameters(model: nn.Module) -> int:
    """Number of trainable scalars of model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
