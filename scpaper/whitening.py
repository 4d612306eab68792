"""The Olshausen–Field whitening filter, and random patches from whitened photographs."""

from __future__ import annotations

import numpy as np
import torch


def whitening_filter(shape: tuple[int, int], f0: float = 0.4) -> torch.Tensor:
    """Olshausen & Field's zero-phase whitening/low-pass filter R(f) = f·exp(-(f/f0)^4), f in cycles/pixel."""
    if f0 <= 0:
        raise ValueError(f"cut-off f0 must be positive, got {f0}")
    fy = torch.fft.fftfreq(shape[0], dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(shape[1], dtype=torch.float64)[None, :]
    f = torch.sqrt(fx**2 + fy**2)
    return f * torch.exp(-((f / f0) ** 4))


def whiten(image: torch.Tensor, f0: float = 0.4, variance: float = 0.1) -> torch.Tensor:
    """Whiten one image with the Olshausen–Field filter, then scale it to zero mean and the given variance.

    f0 = 0.4 cycles/pixel is their 200 cycles/picture on 512-pixel images; variance 0.1 is the
    scaling of their sparsenet images.
    """
    if image.ndim != 2:
        raise ValueError(f"whiten takes one grey-level image (H, W), got shape {tuple(image.shape)}")
    if not torch.isfinite(image).all():
        raise ValueError("image contains NaN or inf values")
    x = image.to(torch.float64) - image.to(torch.float64).mean()
    white = torch.fft.ifft2(torch.fft.fft2(x) * whitening_filter(tuple(x.shape), f0)).real
    white = white - white.mean()
    return white * (variance / white.var()).sqrt()


def sample_patches(images: list[torch.Tensor], size: int, n: int, rng: np.random.Generator, border: int = 4) -> torch.Tensor:
    """Draw n square patches of side size uniformly from the images, as rows of an (n, size*size) tensor.

    border pixels on each side are avoided, since the FFT-based whitening wraps around the edges.
    """
    if size <= 0 or n <= 0:
        raise ValueError(f"patch size and count must be positive, got size={size}, n={n}")
    which = rng.integers(len(images), size=n)
    out = torch.empty(n, size * size, dtype=images[0].dtype)
    for i, k in enumerate(which):
        h, w = images[k].shape
        r = rng.integers(border, h - size - border + 1)
        c = rng.integers(border, w - size - border + 1)
        out[i] = images[k][r:r + size, c:c + size].reshape(-1)
    return out
