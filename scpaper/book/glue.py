"""Values glued into the book's prose: numbers are handed to myst-nb as plain Python numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def plain(value: Any) -> Any:
    """A NumPy scalar, or a zero-dimensional array or tensor, as the Python number it holds; anything else unchanged."""
    if isinstance(value, np.generic) or (isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 0):
        return value.item()
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue value under name for {glue:text} and friends, which format only plain numbers (not 'np.float64(…)').

    A glued matplotlib figure is closed once stored, so that it appears where the text places it and not
    a second time below the cell that made it.
    """
    from matplotlib.figure import Figure
    from myst_nb import glue as myst_glue

    myst_glue(name, plain(value), display=display)
    if isinstance(value, Figure):
        import matplotlib.pyplot as plt

        plt.close(value)
