"""One plotting style for the whole book, and a footer naming the code that drew each figure."""

from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

PALETTE = "colorblind"


def use_style() -> None:
    """Apply the book's seaborn theme (call once at the top of a chapter)."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "figure.figsize": (6.4, 4.0),
                         "axes.titlesize": "medium", "image.cmap": "gray"})


def credit(fig: plt.Figure, *makers: Callable) -> plt.Figure:
    """Print, in the figure's lower-right corner, the scpaper functions whose output it shows."""
    names = ", ".join(f"{m.__module__}.{m.__qualname__}" for m in makers)
    fig.text(0.995, 0.005, f"made by {names}", ha="right", va="bottom", fontsize=6, color="0.45")
    return fig


def tile_grid(ax: plt.Axes, atoms: torch.Tensor | np.ndarray, shape: tuple[int, int], ncols: int | None = None,
              symmetric: bool = True) -> None:
    """Draw atoms (rows of an (n, h*w) array) as a grid of images, each scaled to its own max |value|."""
    a = np.asarray(atoms.detach().cpu() if isinstance(atoms, torch.Tensor) else atoms, dtype=np.float64)
    n = a.shape[0]
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    h, w = shape
    canvas = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1), np.nan)
    for i, atom in enumerate(a):
        scale = np.abs(atom).max() or 1.0
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = atom.reshape(h, w) / scale
    cmap = plt.get_cmap("gray").copy()
    cmap.set_bad("white")
    ax.imshow(canvas, cmap=cmap, vmin=-1 if symmetric else 0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
