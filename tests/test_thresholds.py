"""Shrinkage functions against the problems they solve in closed form for an orthonormal dictionary."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar, nnls

from scpaper import thresholds


def _orthonormal(n: int, seed: int) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))[0]


@pytest.mark.parametrize("nonneg", [False, True])
def test_soft_thresholds_minimise_the_scalar_lasso(nonneg):
    u = torch.linspace(-3, 3, 25, dtype=torch.float64)
    lam = torch.rand(25, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = thresholds.soft_nonneg(u, lam) if nonneg else thresholds.soft(u, lam)
    for ui, li, ai in zip(u.tolist(), lam.tolist(), got.tolist()):
        f = lambda a: 0.5 * (ui - a) ** 2 + li * abs(a)
        best = minimize_scalar(f, bounds=(0 if nonneg else -5, 5), method="bounded", options={"xatol": 1e-12})
        assert ai == pytest.approx(best.x, abs=1e-6)
    if nonneg:
        assert torch.equal(got, torch.relu(u - lam))


def test_ridge_is_the_orthonormal_ridge_solution():
    Q = _orthonormal(6, 1)
    x = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    lam = torch.tensor([0.0, 0.1, 0.5, 1.0, 2.0, 7.0], dtype=torch.float64)
    direct = torch.linalg.solve(Q.T @ Q + torch.diag(lam), Q.T @ x)  # Bowren eq 76
    assert torch.allclose(thresholds.ridge(Q.T @ x, lam), direct, atol=1e-12)
    assert torch.allclose(thresholds.ridge(Q.T @ x, 0.5), Q.T @ x / 1.5)  # eq 78


@pytest.mark.parametrize("nonneg", [False, True])
def test_top_k_is_the_best_k_atom_fit(nonneg):
    Q = _orthonormal(7, 3).numpy()
    x = np.random.default_rng(4).normal(size=7)
    k = 3
    best = None
    for S in itertools.combinations(range(7), k):
        coef = nnls(Q[:, S], x)[0] if nonneg else np.linalg.lstsq(Q[:, S], x, rcond=None)[0]
        err = np.sum((x - Q[:, S] @ coef) ** 2)
        if best is None or err < best[0] - 1e-12:
            best = (err, S, coef)
    a = np.zeros(7)
    a[list(best[1])] = best[2]
    got = thresholds.top_k(torch.from_numpy(Q.T @ x), k, nonneg=nonneg).numpy()
    assert np.allclose(got, a, atol=1e-10)
    assert (got != 0).sum() <= k


def test_top_k_keeps_rows_apart():
    u = torch.tensor([[3.0, -5.0, 1.0], [0.5, 0.2, -0.1]])
    assert torch.equal(thresholds.top_k(u, 1), torch.tensor([[0.0, -5.0, 0.0], [0.5, 0.0, 0.0]]))
    assert torch.equal(thresholds.top_k(u, 1, nonneg=True), torch.tensor([[3.0, 0.0, 0.0], [0.5, 0.0, 0.0]]))


def test_per_atom_lambda_matches_scalar():
    u = torch.randn(4, 5)
    assert torch.equal(thresholds.soft(u, 0.3), thresholds.soft(u, torch.full((5,), 0.3)))


def test_bad_lambda_and_k_are_one_line_errors():
    u = torch.randn(2, 5)
    with pytest.raises(ValueError, match=r"^lam must be non-negative, got min -0.1$"):
        thresholds.soft(u, -0.1)
    with pytest.raises(ValueError, match=r"^lam must be a float or have one entry per atom \(5\), got shape \(4,\)$"):
        thresholds.soft_nonneg(u, torch.ones(4))
    with pytest.raises(ValueError, match=r"^lam must be finite$"):
        thresholds.ridge(u, float("nan"))
    with pytest.raises(ValueError, match=r"^k must lie in 0\.\.5, got 6$"):
        thresholds.top_k(u, 6)


def test_lambda_keeps_the_input_dtype_and_rejects_a_matrix():
    u64 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    assert thresholds.soft(u64, 0.1).tolist() == [0.3 - 0.1, -(0.7 - 0.1)]  # λ not rounded to float32 first
    assert thresholds.soft_nonneg(u64, 0.1).tolist() == [0.3 - 0.1, 0.0]
    assert thresholds.ridge(u64, 0.1).tolist() == [0.3 / 1.1, -0.7 / 1.1]
    assert thresholds.soft(u64.float(), torch.tensor(0.1, dtype=torch.float64)).dtype == torch.float32
    with pytest.raises(ValueError, match=r"^lam must be a float or have one entry per atom \(2\), got shape \(1, 2\)$"):
        thresholds.soft(u64, torch.ones(1, 2))


def test_top_k_accepts_zero_and_all_atoms_and_names_the_last_dimension():
    u = torch.tensor([[0.5, -2.0, 1.0]])
    assert torch.equal(thresholds.top_k(u, 0), torch.zeros_like(u))
    assert torch.equal(thresholds.top_k(u, 3), u)
    with pytest.raises(ValueError, match=r"^k must lie in 0\.\.3, got 4$"):
        thresholds.top_k(torch.zeros(2, 5, 3), 4)


def test_hard_threshold_minimises_the_penalised_l0_problem_per_atom():
    """½‖x − Qa‖² + Σλᵢ[aᵢ ≠ 0] for orthonormal Q, against brute force over every support."""
    Q = _orthonormal(5, 7)
    gen = torch.Generator().manual_seed(8)
    lam = torch.rand(5, generator=gen, dtype=torch.float64)
    for x in torch.randn(20, 5, generator=gen, dtype=torch.float64):
        u = Q.T @ x
        best = min(0.5 * float((x - Q[:, list(s)] @ u[list(s)]).pow(2).sum()) + float(lam[list(s)].sum())
                   for r in range(6) for s in itertools.combinations(range(5), r))
        a = thresholds.hard(u, lam)
        assert 0.5 * float((x - Q @ a).pow(2).sum()) + float(lam[a != 0].sum()) == pytest.approx(best, abs=1e-12)
        assert torch.equal(a, torch.where(u.abs() > (2 * lam).sqrt(), u, torch.zeros_like(u)))  # kept entries unshrunk


def test_hard_threshold_ties_scalar_lambda_dtype_and_errors():
    u = torch.tensor([[-1.0, 0.5, 2.0], [1.0, -3.0, 0.0]], dtype=torch.float32)
    assert torch.equal(thresholds.hard(u, 0.5), torch.tensor([[0.0, 0.0, 2.0], [0.0, -3.0, 0.0]]))  # |u| = √(2·½) = 1 is dropped
    assert thresholds.hard(u, 0.5).dtype == torch.float32
    assert torch.equal(thresholds.hard(u, 0.0), u)  # λ = 0 keeps every non-zero
    assert torch.equal(thresholds.hard(u, torch.tensor([0.0, 0.0, 3.0])), torch.tensor([[-1.0, 0.5, 0.0], [1.0, -3.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        thresholds.hard(u, -0.1)
    with pytest.raises(ValueError, match="one entry per atom"):
        thresholds.hard(u, torch.ones(2))
