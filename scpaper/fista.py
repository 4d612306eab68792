"""Proximal-gradient iterations: ISTA, and FISTA's momentum (Beck & Teboulle), for any proximal step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm


def iterate(step: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, n_steps: int, *,
            momentum: bool = True, desc: str | None = None) -> torch.Tensor:
    """n_steps of x ← step(z) from start: z is the last x (ISTA) or its extrapolation along x − x_prev (FISTA)."""
    x, z, t = start, start, 1.0
    for _ in tqdm(range(n_steps), desc=desc, leave=False, disable=desc is None):
        new = step(z)
        if momentum:
            t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
            z = new + (t - 1) / t_next * (new - x)
            t = t_next
        else:
            z = new
        x = new
    return x
