import numpy as np
import pytest
import torch

from scpaper import lasso, sensitivity


def problem(dim: int = 30, atoms: int = 40, n: int = 6, seed: int = 0):
    """A random unit-norm dictionary and signals with a few active atoms each."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(dim, atoms, generator=g, dtype=torch.float64)
    D = D / D.norm(dim=0)
    codes = torch.zeros(n, atoms, dtype=torch.float64)
    codes[:, :5] = 1 + torch.rand(n, 5, generator=g, dtype=torch.float64)
    return D, codes @ D.T + 0.05 * torch.randn(n, dim, generator=g, dtype=torch.float64)


def test_jacobian_matches_finite_differences_of_the_solver():
    D, X = problem()
    v = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    error, eps = sensitivity.finite_difference(D, X[0], 0.1, v)
    assert error < 1e-8 and eps > 0


def test_finite_differences_are_formed_in_float64_from_float32_inputs():
    D, X = problem()
    v = torch.randn(30, generator=torch.Generator().manual_seed(1))
    error, eps = sensitivity.finite_difference(D.float(), X[0].float(), 0.1, v)
    assert error < 1e-8 and eps > 0


def test_exact_codes_keep_the_solvers_uniqueness_flag():
    D, X = problem()
    out = sensitivity.exact_codes(D, X, 0.1)
    assert out.unique.dtype == torch.bool and out.unique.shape == (len(X),) and out.unique.all()
    twin = torch.cat([D, D[:, :1]], 1)  # a duplicated atom: codes that use it are not unique
    dup = sensitivity.exact_codes(twin, X, 0.1)
    assert dup.certified.all() and not dup.unique.all()


def test_rip_constant_is_zero_for_orthonormal_atoms_and_at_least_one_for_a_duplicate():
    Q, _ = torch.linalg.qr(torch.randn(20, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    code = torch.ones(6, dtype=torch.float64)
    assert abs(sensitivity.rip_constant(Q, code)) < 1e-12
    twin = torch.cat([Q, Q[:, :1]], 1)
    assert sensitivity.rip_constant(twin, torch.ones(7, dtype=torch.float64)) >= 1 - 1e-12
    with pytest.raises(ValueError, match="no active atom"):
        sensitivity.rip_constant(Q, torch.zeros(6, dtype=torch.float64))


def test_digit_spectra_agree_with_one_digit_svd_and_bound_the_pair_gain():
    D, X = problem()
    codes = lasso.solve(D, X, 0.1).codes
    V = {"noise": torch.randn(X.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64), "swap": X.roll(1, 0) - X}
    out = sensitivity.digit_spectra(D, codes, V, bins=8, progress=False)
    for i, code in enumerate(codes):
        spec = sensitivity.spectrum(D, code)
        assert torch.isclose(out.sigma_min[i], spec.singular[0]) and out.active[i] == len(spec.gains)
        assert abs(out.rip[i] - sensitivity.rip_constant(D, code)) < 1e-12
        power = sensitivity.overlap_spectrum(spec, V["swap"][i][None]).pow(2)[0]
        assert torch.isclose(out.in_span["swap"][i], power.sum()) and torch.isclose(out.profile["swap"][i].sum(), power.sum())
        assert torch.isclose(out.noise_gain[i], (spec.gains.pow(2).sum() / D.shape[0]).sqrt())
    assert (out.pair_gain <= 1 / out.sigma_min + 1e-12).all()  # a pair is one combination of active atoms
    assert ((out.top_share["noise"] >= 0) & (out.top_share["noise"] <= 1)).all()
    with pytest.raises(ValueError, match="multiple of 4"):
        sensitivity.digit_spectra(D, codes, V, bins=6, progress=False)


def test_code_gains_equal_the_norm_of_the_full_active_jacobian():
    D, X = problem()
    out = lasso.solve(D, X, 0.1)
    V = torch.randn(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gains = sensitivity.code_gains(D, out.codes, V, progress=False)
    expected = torch.stack([(lasso.active_jacobian(D, c) @ v).norm() / v.norm() for c, v in zip(out.codes, V)])
    assert torch.allclose(gains, expected, rtol=1e-10)


def test_gain_along_an_active_atom_is_one_and_eq5_holds_for_pairs():
    D, X = problem()
    code = lasso.solve(D, X[:1], 0.1).codes[0]
    active = code.nonzero()[:, 0]
    assert torch.allclose(sensitivity.code_gains(D, code[None], D[:, active[0]][None], progress=False), torch.ones(1, dtype=torch.float64))
    ov = sensitivity.overlaps(D, code, top=3)
    measured, predicted = sensitivity.pair_gains(D, code, ov.pairs)
    assert torch.allclose(measured, predicted, rtol=1e-10)
    assert len(ov.overlaps) == len(active) * (len(active) - 1) // 2
    assert (ov.top.diff() <= 0).all()


def test_spectrum_gains_bound_the_code_gains():
    D, X = problem()
    code = lasso.solve(D, X[:1], 0.1).codes[0]
    spec = sensitivity.spectrum(D, code)
    V = torch.randn(50, 30, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gains = sensitivity.code_gains(D, code.expand(50, -1), V, progress=False)
    assert (gains <= spec.gains[0] + 1e-12).all()
    top = spec.vectors[:, 0][None]
    assert torch.allclose(sensitivity.code_gains(D, code[None], top, progress=False), spec.gains[:1])
    power = sensitivity.overlap_spectrum(spec, V).pow(2).sum(1)
    assert (power <= 1 + 1e-12).all()


def test_hidden_gains_of_a_relu_layer_use_its_active_rows():
    g = torch.Generator().manual_seed(4)
    W, b = torch.randn(7, 5, generator=g), torch.randn(7, generator=g)
    X, V = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    eps = 1e-3
    fd = (torch.relu((X + eps * V) @ W.T + b) - torch.relu((X - eps * V) @ W.T + b)) / (2 * eps)
    assert torch.allclose(sensitivity.hidden_gains(W, b, X, V), fd.norm(dim=1) / V.norm(dim=1), rtol=1e-3)


def test_perturbations_swap_to_another_image_and_normalised_mean():
    images = torch.rand(5, 28, 28)
    p = sensitivity.perturbations(images, np.random.default_rng(0))
    assert set(p) == set(sensitivity.KINDS)
    assert (p["swap"].norm(dim=1) > 0).all()
    assert torch.allclose(sensitivity.normalised_mean(torch.tensor([[1.0, 2.0], [1.0, -1.0]])), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="two images"):
        sensitivity.perturbations(images[:1], np.random.default_rng(0))
