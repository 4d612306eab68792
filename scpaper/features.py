"""Representations of MNIST digits to compare with sparse codes: a wide random ReLU net and the hidden
layer of a small supervised MLP (Luther & Seung §2.3 and §6.1)."""

from __future__ import annotations

import math

import torch
from torch import nn

from scpaper import train


def random_net(X: torch.Tensor, width: int, seed: int = 0, device: torch.device | str = "cpu",
               batch: int = 4096) -> torch.Tensor:
    """z = ReLU(W₂ ReLU(W₁x)) with W₁ (width × dim) and W₂ (width × width) drawn iid N(0, 1) (eq 8)."""
    if X.ndim != 2 or width < 1:
        raise ValueError(f"need X of shape (N, dim) and width ≥ 1, got {tuple(X.shape)} and {width}")
    device = torch.device(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    W1 = torch.randn(width, X.shape[1], generator=gen, device=device)
    W2 = torch.randn(width, width, generator=gen, device=device)
    out = [torch.relu(torch.relu(xb.to(device).float() @ W1.T) @ W2.T).cpu() for xb in X.split(batch)]
    return torch.cat(out)


def mlp(dim: int = 784, hidden: int = 784, classes: int = 10) -> nn.Sequential:
    """The two-layer ReLU net of §2.3: dim → hidden (ReLU) → classes."""
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def train_mlp(X: torch.Tensor, y: torch.Tensor, hidden: int = 784, steps: int = 2000, lr: float = 0.1,
              batch_size: int = 64, seed: int = 0, device: torch.device | str = "cpu") -> nn.Sequential:
    """Train mlp() by plain SGD (no momentum, no weight decay), steps/2 steps at lr then steps/2 at lr/10."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    torch.manual_seed(seed)
    model = mlp(X.shape[1], hidden, int(y.max()) + 1)
    per_epoch = math.ceil(len(X) / batch_size)

    def schedule(step: int, total: int) -> float:
        """lr for the first half, lr/10 for the second, 0 (no update) past `steps`."""
        return 1.0 if step < steps // 2 else 0.1 if step < steps else 0.0

    train.fit(model, X, y, epochs=math.ceil(steps / per_epoch), batch_size=batch_size, lr=lr, momentum=0.0,
              weight_decay=0.0, schedule=schedule, device=device, seed=seed)
    return model.cpu().eval()


@torch.no_grad()
def hidden(model: nn.Sequential, X: torch.Tensor) -> torch.Tensor:
    """The hidden-layer representation h = ReLU(W₁x + b₁) of mlp()."""
    return model[1](model[0](X.float()))
