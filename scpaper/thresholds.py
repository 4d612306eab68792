"""Shrinkage functions: the closed-form sparse codes of an orthonormal dictionary.

Each acts on the last dimension of u = Dᵀx. λ is a float or one λᵢ per atom (a tensor of the last
dimension's length).
"""

from __future__ import annotations

import torch

Lam = float | torch.Tensor


def check_lam(lam: Lam, n_atoms: int, like: torch.Tensor) -> torch.Tensor:
    """λ as a tensor on like's device and dtype, broadcastable over n_atoms; one-line ValueError if bad."""
    lam_t = torch.as_tensor(lam, dtype=like.dtype, device=like.device)
    if lam_t.ndim > 1 or (lam_t.ndim == 1 and lam_t.shape[0] != n_atoms):
        raise ValueError(f"lam must be a float or have one entry per atom ({n_atoms}), got shape {tuple(lam_t.shape)}")
    if not torch.isfinite(lam_t).all():
        raise ValueError("lam must be finite")
    if (lam_t < 0).any():
        raise ValueError(f"lam must be non-negative, got min {lam_t.min().item():.3g}")
    return lam_t


def soft(u: torch.Tensor, lam: Lam) -> torch.Tensor:
    """Soft threshold S_λ(u) = sign(u)·max(|u| − λ, 0): the lasso code of an orthonormal dictionary."""
    lam_t = check_lam(lam, u.shape[-1], u)
    return torch.sign(u) * torch.relu(u.abs() - lam_t)


def soft_nonneg(u: torch.Tensor, lam: Lam) -> torch.Tensor:
    """Non-negative soft threshold ReLU(u − λ): the non-negative lasso code of an orthonormal dictionary."""
    return torch.relu(u - check_lam(lam, u.shape[-1], u))


def ridge(u: torch.Tensor, lam: Lam) -> torch.Tensor:
    """Ridge shrink u/(1 + λ): the code minimising ½‖x − Da‖² + ½Σλᵢaᵢ² for an orthonormal dictionary."""
    return u / (1 + check_lam(lam, u.shape[-1], u))


def top_k(u: torch.Tensor, k: int, nonneg: bool = False) -> torch.Tensor:
    """Keep the k entries of largest |u| (largest positive u if nonneg), zero the rest (Bowren eq 79)."""
    if not 0 <= k <= u.shape[-1]:
        raise ValueError(f"k must lie in 0..{u.shape[-1]}, got {k}")
    v = torch.relu(u) if nonneg else u
    keep = torch.topk(v.abs(), k, dim=-1).indices
    return torch.zeros_like(v).scatter(-1, keep, v.gather(-1, keep))


def hard(u: torch.Tensor, lam: Lam) -> torch.Tensor:
    """Hard threshold at √(2λ): keep u where |u| > √(2λ), zero elsewhere — the minimiser of
    ½‖x − Da‖² + λ‖a‖₀ for an orthonormal dictionary (penalised L0)."""
    return torch.where(u.abs() > (2 * check_lam(lam, u.shape[-1], u)).sqrt(), u, torch.zeros_like(u))
