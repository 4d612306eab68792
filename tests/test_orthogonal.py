"""Orthogonal sparse coding: closed forms against exact solvers, the SVD constraint, learning, scores."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.linear_model import Ridge

from scpaper import lasso, orthogonal, thresholds, whitening


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_polar_orthonormalisation_is_the_nearest_orthonormal_matrix(gen):
    Phi = torch.randn(20, 12, generator=gen, dtype=torch.float64)
    polar = orthogonal.orthonormalize(Phi)
    assert torch.allclose(polar.T @ polar, torch.eye(12, dtype=torch.float64), atol=1e-12)
    assert np.allclose(polar.numpy(), scipy.linalg.polar(Phi.numpy())[0], atol=1e-10)


def test_eq18_as_printed_is_orthonormal_but_rotates_the_atoms(gen):
    Phi = orthogonal.random_orthonormal(16, 16, gen) + 0.05 * torch.randn(16, 16, generator=gen, dtype=torch.float64)
    printed, polar = orthogonal.orthonormalize(Phi, "eq18"), orthogonal.orthonormalize(Phi)
    assert torch.allclose(printed.T @ printed, torch.eye(16, dtype=torch.float64), atol=1e-12)
    assert (printed - polar).abs().max() > 0.1  # polar stays near Phi, the printed rule does not
    assert (polar - Phi).norm() < (printed - Phi).norm()


@pytest.mark.parametrize("bad, match", [(torch.randn(4, 6), "n_atoms ≤ dim"), (torch.full((4, 2), math.nan), "NaN"),
                                        (torch.ones(4, 2), "rank-deficient")])
def test_orthonormalize_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        orthogonal.orthonormalize(bad)
    with pytest.raises(ValueError, match="unknown orthonormalisation"):
        orthogonal.orthonormalize(torch.eye(3), "qr")


@pytest.mark.parametrize("n_atoms", [12, 5])
def test_soft_threshold_is_the_certified_lasso_code(gen, n_atoms):
    Phi = orthogonal.random_orthonormal(12, n_atoms, gen)
    X = torch.randn(30, 12, generator=gen, dtype=torch.float64)
    exact = lasso.solve(Phi, X, 0.3)
    assert exact.certified.all()
    assert torch.allclose(orthogonal.codes(Phi, X, 0.3), exact.codes, atol=1e-10)


def test_relu_with_a_lambda_per_atom_is_the_nonnegative_lasso_code(gen):
    table = orthogonal.closed_form_check(10, 6, [0.1, 1.0], 20, nonneg=True, per_atom=True)
    assert (table.max_deviation < 1e-10).all() and (table.certified == 1).all()
    assert (table.active > 0).all()


def test_learning_lowers_eq15_and_keeps_atoms_orthonormal(gen):
    X = torch.randn(400, 16, generator=gen) * torch.linspace(0.05, 1, 16)  # anisotropic, so atoms have to align
    run = orthogonal.learn(X, X[:100], 8, 0.1, steps=30, lr=1.0, batch_size=64, records=3, progress=False)
    assert run.objective[-1] < run.objective[0]
    assert torch.allclose(run.atoms.T @ run.atoms, torch.eye(8, dtype=torch.float64), atol=1e-6)
    assert orthogonal.steps_to_reach(run, float(run.objective[-1])) <= 30
    assert orthogonal.steps_to_reach(run, -1.0) is None
    with pytest.raises(ValueError, match="unknown constraint"):
        orthogonal.learn(X, X, 8, 0.1, steps=1, lr=1.0, batch_size=8, constraint="qr")
    with pytest.raises(ValueError, match="lam ≥ 0"):
        orthogonal.learn(X, X, 8, -0.1, steps=1, lr=1.0, batch_size=8)


def test_learning_gradient_through_closed_form_matches_finite_differences(gen):
    Phi = orthogonal.random_orthonormal(6, 4, gen).requires_grad_(True)
    X = torch.randn(50, 6, generator=gen, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda P: orthogonal.objective(P, X, 0.2), (Phi,))


def test_whitening_applies_the_olshausen_field_filter(gen):
    image = torch.rand(64, 64, generator=gen, dtype=torch.float64)
    white = whitening.whiten(image)
    assert abs(float(white.mean())) < 1e-12 and abs(float(white.var()) - 0.1) < 1e-12
    ratio = torch.fft.fft2(white).abs() / torch.fft.fft2(image - image.mean()).abs().clamp_min(1e-12)
    R = whitening.whitening_filter((64, 64))
    mask = R > 1e-3 * R.max()
    scale = ratio[mask] / R[mask]
    assert float(scale.std() / scale.mean()) < 1e-8  # output spectrum = input spectrum × R(f), up to one gain
    with pytest.raises(ValueError, match="NaN"):
        whitening.whiten(torch.full((8, 8), math.nan))


def test_patch_sampling_draws_rows_of_the_images():
    images = [torch.arange(400, dtype=torch.float64).reshape(20, 20)]
    patches = whitening.sample_patches(images, 3, 50, np.random.default_rng(0), border=2)
    assert patches.shape == (50, 9)
    assert torch.equal(patches[:, 1] - patches[:, 0], torch.ones(50, dtype=torch.float64))  # neighbours along a row
    assert torch.equal(patches[:, 3] - patches[:, 0], torch.full((50,), 20.0, dtype=torch.float64))  # next row
    assert patches.min() >= 2 * 20 + 2 and patches.max() <= 17 * 20 + 17


def test_high_frequency_share_of_known_atoms():
    checker = torch.tensor([(-1.0) ** (i + j) for i in range(12) for j in range(12)])[:, None]
    constant = torch.ones(144, 1)
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    slow = torch.cos(2 * math.pi * xx / 12).reshape(-1, 1)  # 1/12 cycle per pixel
    share = orthogonal.high_frequency_share(torch.cat([checker, constant, slow], 1), (12, 12))
    assert torch.allclose(share, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-12)
    counts = orthogonal.high_frequency_counts({3: torch.cat([checker, constant, slow], 1)}, (12, 12))
    assert counts.high_frequency.tolist() == [1]
    with pytest.raises(ValueError, match="atoms must be"):
        orthogonal.high_frequency_share(torch.ones(10, 2), (12, 12))


def test_ridge_codes_match_sklearn_and_eq78_for_orthonormal_atoms(gen):
    D = orthogonal.mixed_dictionary(15, 10, 0.7, gen)
    X = torch.randn(5, 15, generator=gen, dtype=torch.float64)
    reference = Ridge(alpha=0.1, fit_intercept=False).fit(D.numpy(), X.T.numpy()).coef_
    assert np.allclose(orthogonal.ridge_codes(D, X, 0.1).numpy(), reference, atol=1e-10)
    Q = orthogonal.random_orthonormal(15, 10, gen)
    gap = orthogonal.ridge_gap(Q, X, 0.1)
    assert gap["matrix_error"] < 1e-12 and gap["code_error"] < 1e-12
    assert torch.allclose(orthogonal.ridge_codes(Q, X, 0.1), thresholds.ridge(X @ Q, 0.1), atol=1e-12)
    assert orthogonal.ridge_gap(D, X, 0.1)["matrix_error"] > 0.1
    with pytest.raises(ValueError, match="mix must lie"):
        orthogonal.mixed_dictionary(4, 4, 1.5, gen)


def test_top_k_is_optimal_for_orthonormal_atoms_only():
    orth = orthogonal.l0_check(8, 8, [1, 2, 3], 10, seed=1)
    assert (orth.optimal == 1).all() and orth.worst_excess.max() < 1e-9
    coherent = orthogonal.l0_check(8, 8, [2, 3], 10, mix=0.8, seed=1)
    assert coherent.optimal_support.min() < 1  # top-k of |Dᵀx| misses the best support for coherent atoms
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert orthogonal.best_support(torch.eye(2, dtype=torch.float64), x, 0) == pytest.approx(2.5)


def test_ica_recovers_mixed_laplacian_sources(gen):
    S = torch.distributions.Laplace(0.0, 1.0).sample((4000, 4))
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    basis = orthogonal.ica_basis(S.double() @ A.T, 4)
    cosines = (basis.T @ (A / A.norm(dim=0))).abs()
    assert torch.allclose(basis.norm(dim=0), torch.ones(4, dtype=torch.float64))
    assert (cosines.max(0).values > 0.99).all()


def test_a_known_unused_atom_carries_no_code_energy_and_costs_nothing_to_remove(gen):
    Q = orthogonal.random_orthonormal(20, 20, gen)
    X = torch.randn(300, 19, generator=gen, dtype=torch.float64) @ Q[:, :19].T  # data avoid atom 19 entirely
    share = orthogonal.code_energy_share(orthogonal.codes(Q, X, 0.1))
    assert float(share[19]) < 1e-20 and abs(float(share.sum()) - 1) < 1e-12
    increase = orthogonal.removal_increase(Q, X, 0.1)
    assert abs(float(increase[19])) < 1e-12 and (increase[:19] > 0).all()


def test_hard_threshold_at_sqrt_2_lambda_is_the_penalised_l0_optimum():
    table = orthogonal.l0_penalised_check(6, [0.05, 0.3, 1.0], 5, seed=2)
    assert table.worst_excess.max() < 1e-9
    u = torch.tensor([0.5, -0.7, 0.8])
    assert torch.equal(thresholds.hard(u, 0.3), torch.tensor([0.0, 0.0, 0.8]))  # √0.6 ≈ 0.775: only 0.8 survives


def test_band_count_counts_the_dft_grid_and_lasso_gap_vanishes_for_orthonormal_atoms(gen):
    assert orthogonal.band_count((4, 4), 0.3) == 4  # (±1/4, 0), (0, ±1/4); the diagonals lie at 0.354
    Q = orthogonal.random_orthonormal(12, 12, gen)
    gap = orthogonal.lasso_gap(Q, torch.randn(30, 12, generator=gen, dtype=torch.float64), 0.1)
    assert float(gap["per_row"].max()) < 1e-10 and gap["certified"] == 1.0

