"""Proximal-gradient iterations: one step is a threshold, both variants reach the certified LASSO solution."""

import pytest
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


def test_momentum_follows_beck_and_teboulle() -> None:
    """With step(z) = z + 1 each iterate adds 1 plus β_k times the last move, β_k = (t_k − 1)/t_{k+1},
    t_1 = 1, t_{k+1} = (1 + √(1 + 4t_k²))/2 (Beck & Teboulle 2009, eq 4.2–4.3): β = 0, 0.2818, 0.4340, …"""
    beta = [0.0, 0.28175, 0.43404, 0.53110, 0.59904]
    x, move = 0.0, 0.0
    expected = []
    for _ in beta:  # x_{k+1} = x_k + β_{k-1}·(x_k − x_{k−1}) + 1, written from the published coefficients
        new = x + (beta[len(expected) - 1] if expected else 0.0) * move + 1
        move, x = new - x, new
        expected.append(x)
    for n in range(1, 6):
        got = iterate(lambda z: z + 1, torch.zeros(1, dtype=torch.float64), n)
        assert got.item() == pytest.approx(expected[n - 1], abs=2e-4)
        assert iterate(lambda z: z + 1, torch.zeros(1, dtype=torch.float64), n, momentum=False).item() == n


def test_progress_bar_only_when_named(capsys) -> None:
    iterate(lambda z: z, torch.zeros(1), 3)
    assert capsys.readouterr().err == ""
    iterate(lambda z: z, torch.zeros(1), 3, desc="unrolled")
    err = capsys.readouterr().err
    assert "unrolled" in err and err.endswith("\r")  # the bar is cleared when done (leave=False)
