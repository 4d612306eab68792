"""Natural photographs, the Olshausen–Field whitening filter, and random patches from them."""

from __future__ import annotations

import numpy as np
import torch

from scpaper.data import REGISTRY, locate

VANHATEREN = ("imk01192", "imk03447")
KODAK = tuple(sorted(name.split("kodim")[1][:2] for name in REGISTRY if name.startswith("natural_images/kodak/")))
SKIMAGE = ("camera", "astronaut", "coffee", "chelsea", "grass", "gravel", "brick", "rocket")


def load_natural_images(source: str = "vanhateren") -> list[torch.Tensor]:
    """Grey-level photographs as float64 (H, W) tensors of linear intensity, max scaled to 1.

    source: 'vanhateren' (two 1024x1536 raw .iml luminance images), 'kodak' (the committed Kodak
    PNGs, converted from sRGB to luminance) or 'skimage' (photographs bundled with scikit-image,
    the package-shipped fallback).
    """
    from skimage import color, data, io

    if source == "vanhateren":
        images = [np.fromfile(locate(f"natural_images/vanhateren/{n}.iml"), dtype=">u2").reshape(1024, 1536).astype(np.float64)
                  for n in VANHATEREN]
    elif source == "kodak":
        images = [color.rgb2gray(io.imread(locate(f"natural_images/kodak/kodim{k}.png"))) for k in KODAK]
    elif source == "skimage":
        images = []
        for name in SKIMAGE:
            image = getattr(data, name)()
            images.append(color.rgb2gray(image) if image.ndim == 3 else image / 255.0)
    else:
        raise ValueError(f"unknown image source {source!r}: choose vanhateren, kodak or skimage")
    return [torch.from_numpy(np.asarray(im, dtype=np.float64) / np.max(im)) for im in images]


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
