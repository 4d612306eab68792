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
