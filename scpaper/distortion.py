"""Small elastic distortions of images (elasticdeform, as in Luther & Seung §2.2)."""

from __future__ import annotations

import elasticdeform
import numpy as np
import torch
from tqdm.auto import tqdm


def elastic(images: torch.Tensor, rng: np.random.Generator, *, sigma: float = 0.25, points: int = 5,
            order: int = 3, progress: bool = False) -> torch.Tensor:
    """Warp each (H, W) image by its own random displacement field; return a tensor shaped like images.

    A points × points grid of displacements drawn from N(0, sigma²) pixels (default 5 × 5, σ = 1/4
    pixel) is upsampled to the image by cubic splines and the image resampled with order-`order` splines
    (bicubic by default), zero outside the frame: `elasticdeform.deform_grid`.
    """
    if images.ndim != 3:
        raise ValueError(f"images must be shaped (N, H, W), got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite values")
    if sigma < 0 or points < 2:
        raise ValueError(f"need sigma ≥ 0 and points ≥ 2, got sigma={sigma}, points={points}")
    x = images.detach().cpu().double().numpy()
    out = np.empty_like(x)
    for i in tqdm(range(len(x)), desc="elastic distortions", disable=not progress, leave=False):
        displacement = rng.normal(0.0, sigma, size=(2, points, points))
        out[i] = elasticdeform.deform_grid(x[i], displacement, order=order, mode="constant", cval=0.0)
    return torch.from_numpy(out).to(images.dtype)
