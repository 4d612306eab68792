"""Natural photographs as grey-level arrays of linear intensity: van Hateren, Kodak, scikit-image."""

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
    PNGs: each sRGB channel linearised, then mixed to luminance Y) or 'skimage' (photographs bundled
    with scikit-image, the package-shipped fallback, as luma of the encoded values).
    """
    from skimage import color, data, io

    if source == "vanhateren":
        images = [np.fromfile(locate(f"natural_images/vanhateren/{n}.iml"), dtype=">u2").reshape(1024, 1536).astype(np.float64)
                  for n in VANHATEREN]
    elif source == "kodak":
        images = [linear_luminance(io.imread(locate(f"natural_images/kodak/kodim{k}.png"))) for k in KODAK]
    elif source == "skimage":
        images = []
        for name in SKIMAGE:
            image = getattr(data, name)()
            images.append(color.rgb2gray(image) if image.ndim == 3 else image / 255.0)
    else:
        raise ValueError(f"unknown image source {source!r}: choose vanhateren, kodak or skimage")
    return [torch.from_numpy(np.asarray(im, dtype=np.float64) / np.max(im)) for im in images]


SRGB_TO_Y = (0.2126, 0.7152, 0.0722)  # luminance weights of the linear sRGB primaries (IEC 61966-2-1)


def srgb_to_linear(encoded: np.ndarray) -> np.ndarray:
    """The sRGB transfer function undone (IEC 61966-2-1): encoded values in [0, 1] to linear intensity."""
    v = np.asarray(encoded, dtype=np.float64)
    if v.min() < 0 or v.max() > 1:
        raise ValueError(f"sRGB values must lie in [0, 1], got [{v.min():.3g}, {v.max():.3g}]")
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_luminance(rgb: np.ndarray) -> np.ndarray:
    """Luminance Y of an 8-bit sRGB image (H, W, 3): each channel linearised, then mixed."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"need an 8-bit (H, W, 3) sRGB image, got {rgb.dtype} of shape {rgb.shape}")
    return srgb_to_linear(rgb / 255.0) @ np.asarray(SRGB_TO_Y)
