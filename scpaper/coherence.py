"""Mutual coherence of a dictionary: the largest |cosine| between two different atoms."""

from __future__ import annotations

import torch


def gram(D: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the ℓ2-normalised columns (atoms) of D (dim × n_atoms)."""
    norms = D.norm(dim=0)
    if (norms == 0).any():
        raise ValueError("dictionary has a zero-norm atom; coherence is undefined")
    Dn = D / norms
    return Dn.T @ Dn


def mutual_coherence(D: torch.Tensor) -> float:
    """μ(D) = max over i ≠ j of |⟨dᵢ, dⱼ⟩| for ℓ2-normalised atoms (columns of D)."""
    G = gram(D).abs()
    G.fill_diagonal_(0)
    return float(G.max())


def average_coherence(D: torch.Tensor) -> float:
    """Mean of |⟨dᵢ, dⱼ⟩| over pairs i ≠ j of ℓ2-normalised atoms (columns of D)."""
    G = gram(D).abs()
    n = G.shape[0]
    return float((G.sum() - G.diagonal().sum()) / (n * (n - 1)))
