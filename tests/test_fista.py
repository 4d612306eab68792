"""Proximal-gradient iterations: one step is a threshold, both variants reach the certified LASSO solution."""

import torch

from scpaper import lasso
from scpaper.fista import iterate
from scpaper.thresholds import soft


def _problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(20, 40, generator=g, dtype=torch.float64)
    D /= D.norm(dim=0)
    X = torch.randn(5, 20, generator=g, dtype=torch.float64)
    return D, X, 0.2, 1 / torch.linalg.matrix_norm(D, 2).item() ** 2


def test_one_step_from_zero_is_a_soft_threshold() -> None:
    D, X, lam, eta = _problem()
    step = lambda z: soft(z + eta * (X - z @ D.T) @ D, lam * eta)  # noqa: E731
    for momentum in (False, True):
        out = iterate(step, torch.zeros(5, 40, dtype=torch.float64), 1, momentum=momentum)
        assert torch.allclose(out, soft(eta * X @ D, lam * eta))


def test_ista_and_fista_reach_the_lasso_solution_fista_sooner() -> None:
    D, X, lam, eta = _problem(1)
    exact = lasso.solve(D, X, lam).codes
    step = lambda z: soft(z + eta * (X - z @ D.T) @ D, lam * eta)  # noqa: E731
    zero = torch.zeros(5, 40, dtype=torch.float64)
    errors = {m: [(iterate(step, zero, n, momentum=m) - exact).norm().item() for n in (50, 3000)] for m in (False, True)}
    assert errors[True][1] < 1e-5 and errors[False][1] < 1e-5, errors
    assert errors[True][0] < errors[False][0]
