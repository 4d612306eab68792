"""Proximal-gradient iterations: ISTA, and FISTA's momentum (Beck & Teboulle), for any proximal step."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm


T_AFTER_FIRST_STEP = (1 + math.sqrt(5)) / 2  # Beck & Teboulle's t₂: pass as t when start is already one step from x₀


def iterate(step: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, n_steps: int, *,
            momentum: bool = True, desc: str | None = None, t: float = 1.0) -> torch.Tensor:
    """n_steps of x ← step(z) from start: z is the last x (ISTA) or its extrapolation along x − x_prev (FISTA).

    t is Beck & Teboulle's momentum weight at start: 1 when start is x₀, T_AFTER_FIRST_STEP when it is x₁.
    """
    x, z = start, start
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
