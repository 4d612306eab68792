"""Sliding-window sparse coding: patches, the convolutional dictionary, and the ReLU-layer ↔ LASSO equivalence."""

import numpy as np
import pytest
import torch

from scpaper import csc, lasso


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_patches_are_the_sliding_windows(gen):
    x = torch.randn(2, 3, 9, 10, generator=gen, dtype=torch.float64)
    k, s = 4, 2
    P = csc.patches(x, k, s)
    rows = [x[:, :, i:i + k, j:j + k].reshape(2, -1) for i in range(0, 9 - k + 1, s) for j in range(0, 10 - k + 1, s)]
    assert torch.equal(P, torch.stack(rows, dim=1))


def test_conv2d_is_dictionary_transpose_on_every_patch(gen):
    x = torch.randn(2, 3, 12, 12, generator=gen, dtype=torch.float64)
    W = torch.randn(7, 3, 5, 5, generator=gen, dtype=torch.float64)
    out = csc.analysis(x, W, 2)
    assert torch.allclose(out.flatten(2).transpose(1, 2), csc.patches(x, 5, 2) @ csc.dictionary(W), atol=1e-12)


@pytest.mark.parametrize("stride,size", [(1, (11, 13)), (2, (11, 13)), (2, (12, 12)), (3, (14, 10))])
def test_synthesis_is_the_adjoint_of_analysis(gen, stride, size):
    x = torch.randn(2, 3, *size, generator=gen, dtype=torch.float64)
    W = torch.randn(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    a = torch.randn(csc.analysis(x, W, stride).shape, generator=gen, dtype=torch.float64)
    lhs = (csc.analysis(x, W, stride) * a).sum()
    rhs = (x * csc.synthesis(a, W, stride, size)).sum()
    assert torch.isclose(lhs, rhs, rtol=1e-12)


def test_orthonormal_filters_are_orthonormal(gen):
    W = csc.orthonormal_filters(20, 2, 4, gen)
    D = csc.dictionary(W)
    assert torch.allclose(D.T @ D, torch.eye(20, dtype=D.dtype), atol=1e-12)
    with pytest.raises(ValueError, match="orthonormal set"):
        csc.orthonormal_filters(33, 2, 4, gen)


@pytest.mark.parametrize("channels,stride,dtype,tol", [(1, 1, torch.float64, 1e-12), (3, 2, torch.float64, 1e-12),
                                                        (2, 1, torch.float32, 1e-5)])
def test_relu_layer_equals_certified_nonneg_lasso_for_orthonormal_filters(gen, channels, stride, dtype, tol):
    x = torch.randn(2, channels, 10, 10, generator=gen, dtype=torch.float64)
    W = csc.orthonormal_filters(8 * channels, channels, 3, gen)
    lam = csc.per_atom_lambda(x, W, 0.5, gen, stride)
    (row,) = csc.compare(x, W, lam, stride, (dtype,))
    assert row["certified"] == 1.0
    assert row["max |ReLU − LASSO|"] < tol
    assert row["max |code|"] > 0.1  # the codes are not trivially zero


def test_relu_layer_is_not_the_lasso_code_for_random_filters(gen):
    x = torch.randn(2, 1, 10, 10, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(9, 1, 3, gen)
    (row,) = csc.compare(x, W, torch.full((9,), 0.1, dtype=torch.float64), 1)
    assert row["certified"] == 1.0 and row["relative gap"] > 1e-2


def test_interpolated_filters_have_unit_norm_and_end_points(gen):
    W0, W1 = csc.orthonormal_filters(6, 1, 3, gen), csc.random_unit_filters(6, 1, 3, gen)
    assert torch.allclose(csc.interpolate_filters(W0, W1, 0.0), W0)
    assert torch.allclose(csc.interpolate_filters(W0, W1, 1.0), W1)
    assert torch.allclose(csc.interpolate_filters(W0, W1, 0.3).flatten(1).norm(dim=1), torch.ones(6, dtype=W0.dtype))
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        csc.interpolate_filters(W0, W1, 1.5)


def test_lambda_sweep_negative_lambda_codes_blank_patches(gen):
    X = torch.randn(50, 16, generator=gen, dtype=torch.float64)
    table = csc.lambda_sweep(X, csc.orthonormal_filters(16, 1, 4, gen), (0.5, 1.0))
    assert list(table["lam_scale"]) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    neg, zero = table.iloc[0], table.iloc[2]
    assert neg["active"] > zero["active"] and neg["recon_error"] > zero["recon_error"] and neg["blank_code"] > 0
    with pytest.raises(ValueError, match=r"^lambda_sweep needs orthonormal filters \(ΦᵀΦ = I\)$"):
        csc.lambda_sweep(X, csc.random_unit_filters(16, 1, 4, gen), (1.0,))


def test_unbounded_direction_exists_exactly_when_the_cone_meets_the_null_space():
    D = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    v = csc.unbounded_direction(D)
    assert v is not None and torch.allclose(D @ v, torch.zeros(2, dtype=torch.float64), atol=1e-9) and (v >= 0).all()
    assert csc.unbounded_direction(torch.eye(3, dtype=torch.float64)) is None


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        csc.patches(torch.zeros(3, 8, 8), 3)
    with pytest.raises(ValueError, match="^images contain NaN or inf values$"):
        csc.patches(torch.full((1, 1, 8, 8), float("nan")), 3)
    with pytest.raises(ValueError, match="channels"):
        csc.analysis(torch.zeros(1, 2, 8, 8), torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        csc.per_atom_lambda(torch.zeros(1, 1, 8, 8), torch.ones(2, 1, 3, 3), -1.0, torch.Generator())


def test_dictionary_columns_are_the_flattened_filters(gen):
    W = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64)
    D = csc.dictionary(W)
    assert D.shape == (18, 4)
    for i in range(4):
        assert torch.equal(D[:, i], W[i].flatten())


def test_patch_and_filter_shapes_are_checked():
    x = torch.zeros(1, 1, 8, 8)
    for kernel_size, stride in ((0, 1), (3, 0), (-1, 1)):
        with pytest.raises(ValueError, match="must be positive"):
            csc.patches(x, kernel_size, stride)
    with pytest.raises(ValueError, match="square filters"):
        csc.dictionary(torch.zeros(4, 1, 3, 2))
    with pytest.raises(ValueError, match="square filters"):
        csc.dictionary(torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match="square filters"):
        csc.synthesis(torch.zeros(1, 4, 2, 2), torch.zeros(4, 1, 3), 1, (4, 4))
    with pytest.raises(ValueError, match="2 channels but the images have 1"):
        csc.relu_layer(x, torch.zeros(3, 2, 3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="channels"):
        csc.patch_lasso(x, torch.zeros(3, 2, 3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        csc.patch_lasso(torch.full((1, 1, 8, 8), float("inf")), torch.zeros(3, 1, 3, 3), torch.zeros(3))


@pytest.mark.parametrize("stride,size", [(1, (7, 9)), (2, (9, 8)), (3, (10, 12))])
def test_synthesis_returns_images_of_the_requested_size_and_rejects_impossible_ones(gen, stride, size):
    W = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    a = csc.analysis(torch.zeros(1, 2, *size, dtype=torch.float64), W, stride)
    assert csc.synthesis(a, W, stride, size).shape == (1, 2, *size)
    smallest = (a.shape[-1] - 1) * stride + 3  # the narrowest image these codes can come from
    for wrong in ((size[0] + stride, size[1]), (size[0], smallest - 1)):
        with pytest.raises(ValueError, match=rf"codes of spatial size \({a.shape[2]}, {a.shape[3]}\) cannot come from images"):
            csc.synthesis(a, W, stride, wrong)


def test_synthesis_of_one_unit_code_places_the_filter(gen):
    W = torch.randn(2, 1, 3, 3, generator=gen, dtype=torch.float64)
    a = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    a[0, 1, 2, 1] = 1.0  # filter 1 at window (2, 1), stride 2: rows 4..6, columns 2..4
    image = torch.zeros(1, 1, 8, 7, dtype=torch.float64)
    image[0, 0, 4:7, 2:5] = W[1, 0]
    assert torch.equal(csc.synthesis(a, W, 2, (8, 7)), image)


def test_orthonormal_filters_are_gram_schmidt_of_the_gaussian_draw_in_the_requested_dtype():
    W = csc.orthonormal_filters(5, 2, 3, torch.Generator().manual_seed(3), dtype=torch.float32)
    assert W.dtype == torch.float32 and W.shape == (5, 2, 3, 3)
    G = torch.randn(18, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    R = csc.dictionary(W).double().T @ G  # Gram–Schmidt of G's columns: QᵀG upper triangular, positive diagonal
    assert torch.allclose(R.tril(-1), torch.zeros(5, 5, dtype=torch.float64), atol=1e-5)
    assert (torch.diagonal(R) > 0).all()
    assert csc.orthonormal_filters(18, 2, 3, torch.Generator().manual_seed(1)).shape == (18, 2, 3, 3)  # a full basis
    for n in (0, 19):
        with pytest.raises(ValueError, match="has 1..18 filters"):
            csc.orthonormal_filters(n, 2, 3, torch.Generator())


def test_unit_and_random_unit_filters_keep_directions_with_unit_norms(gen):
    W = torch.randn(5, 2, 3, 3, generator=gen, dtype=torch.float64) * torch.arange(1, 6, dtype=torch.float64).view(-1, 1, 1, 1)
    U = csc.unit_filters(W)
    norms = W.flatten(1).norm(dim=1)
    assert torch.allclose(U.flatten(1).norm(dim=1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(U * norms.view(-1, 1, 1, 1), W)
    R = csc.random_unit_filters(7, 3, 2, torch.Generator().manual_seed(5), dtype=torch.float32)
    assert R.dtype == torch.float32 and R.shape == (7, 3, 2, 2)
    assert torch.allclose(R.flatten(1).norm(dim=1), torch.ones(7))
    assert torch.equal(R, csc.random_unit_filters(7, 3, 2, torch.Generator().manual_seed(5), dtype=torch.float32))
    G = torch.randn(7, 3, 2, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.allclose(R.double(), G / G.flatten(1).norm(dim=1).view(-1, 1, 1, 1), atol=1e-6)  # Gaussian directions
    for n in (0, -2):
        with pytest.raises(ValueError, match="n_filters must be positive"):
            csc.random_unit_filters(n, 1, 3, gen)


def test_orthonormalize_filters_is_the_polar_factor(gen):
    from scipy.linalg import polar

    W = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float32)
    Q = csc.orthonormalize_filters(W)
    assert Q.dtype == torch.float32 and Q.shape == W.shape
    u, _ = polar(W.flatten(1).double().numpy().T)  # right polar of the (18 × 4) matrix: Wᵀ = u p
    assert torch.allclose(Q.flatten(1).double(), torch.from_numpy(u.T), atol=1e-5)
    O = csc.orthonormal_filters(4, 2, 3, gen)
    assert torch.allclose(csc.orthonormalize_filters(O), O, atol=1e-12)  # already orthonormal: unchanged
    with pytest.raises(ValueError, match="19 filters cannot be orthonormal in 18 dimensions"):
        csc.orthonormalize_filters(torch.randn(19, 2, 3, 3))


def test_interpolated_filters_are_the_normalised_mixture_and_shapes_are_checked(gen):
    W0, W1 = csc.random_unit_filters(3, 1, 3, gen), csc.random_unit_filters(3, 1, 3, gen)
    mid = csc.interpolate_filters(W0, W1, 0.25)
    mix = (0.75 * W0 + 0.25 * W1).flatten(1)
    assert torch.allclose(mid.flatten(1), mix / mix.norm(dim=1, keepdim=True))
    with pytest.raises(ValueError, match="differ in shape"):
        csc.interpolate_filters(W0, W1[:2], 0.5)
    for t in (-0.1, 1.01):
        with pytest.raises(ValueError, match="t must lie in"):
            csc.interpolate_filters(W0, W1, t)


def test_relu_layer_is_relu_of_patch_responses_minus_lambda(gen):
    x = torch.randn(2, 2, 7, 9, generator=gen, dtype=torch.float64)
    W = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64)
    lam = torch.tensor([0.0, 0.5, 1.0, -0.5], dtype=torch.float64)
    out = csc.relu_layer(x, W, lam, stride=2)
    assert out.shape == (2, 4, 3, 4)
    reference = (csc.patches(x, 3, 2) @ csc.dictionary(W) - lam).clamp_min(0)
    assert torch.allclose(out.flatten(2).transpose(1, 2), reference)
    assert csc.relu_layer(x.float(), W.float(), lam).dtype == torch.float32


def test_patch_lasso_lays_codes_out_like_a_conv_output(gen):
    x = torch.randn(2, 1, 9, 7, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(5, 1, 3, gen)
    lam = torch.full((5,), 0.3, dtype=torch.float64)
    codes, result = csc.patch_lasso(x, W, lam, stride=2)
    assert codes.shape == (2, 5, 4, 3)
    assert result.certified.all()
    P = csc.patches(x, 3, 2)  # (2, 12, 9): patch (n, i·3 + j) is code column codes[n, :, i, j]
    assert torch.allclose(codes[1, :, 2, 1], lasso.solve(csc.dictionary(W), P[1, 7:8], lam, nonneg=True).codes[0], atol=1e-9)
    assert (codes >= 0).all() and (codes > 0).any()


def test_per_atom_lambda_spreads_around_the_response_rms(gen):
    x = torch.randn(2, 1, 9, 9, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(400, 1, 3, gen)
    rms = (csc.patches(x, 3, 2) @ csc.dictionary(W)).pow(2).mean().sqrt()
    lam = csc.per_atom_lambda(x, W, 2.0, torch.Generator().manual_seed(1), stride=2)
    ratio = lam / (2.0 * rms)
    assert lam.shape == (400,) and lam.dtype == torch.float64
    assert ratio.min() >= 0.5 and ratio.max() <= 1.5 and ratio.min() < 0.55 and ratio.max() > 1.45
    assert torch.equal(lam, csc.per_atom_lambda(x, W, 2.0, torch.Generator().manual_seed(1), stride=2))
    assert csc.per_atom_lambda(x.float(), W.float(), 1.0, gen).dtype == torch.float32
    with pytest.raises(ValueError, match="scale must be positive"):
        csc.per_atom_lambda(x, W, 0.0, gen)


def test_compare_reports_one_row_per_dtype_and_a_zero_gap_when_every_code_is_zero(gen):
    x = torch.randn(2, 1, 8, 6, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(4, 1, 3, gen)
    rows = csc.compare(x, W, torch.full((4,), 1e3, dtype=torch.float64), 1, (torch.float32, torch.float64))
    assert [r["dtype"] for r in rows] == ["float32", "float64"]
    for r in rows:
        assert r["patches"] == 2 * 6 * 4
        assert r["max |code|"] == 0.0 and r["max |ReLU − LASSO|"] == 0.0 and r["relative gap"] == 0.0
        assert r["certified"] == 1.0


def test_compare_relative_gap_is_the_norm_ratio(gen):
    x = torch.randn(1, 1, 6, 6, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(6, 1, 3, gen)
    lam = torch.full((6,), 0.2, dtype=torch.float64)
    (row,) = csc.compare(x, W, lam)
    codes, _ = csc.patch_lasso(x, W, lam)
    relu = (csc.patches(x, 3) @ csc.dictionary(W) - lam).clamp_min(0)
    diff = relu - codes.flatten(2).transpose(1, 2)
    assert row["relative gap"] == pytest.approx(float(diff.norm() / codes.norm()), rel=1e-9)
    assert row["max |ReLU − LASSO|"] == pytest.approx(float(diff.abs().max()), rel=1e-9)
    assert row["max |code|"] == pytest.approx(float(codes.max()), rel=1e-12)


def test_gap_grows_with_mu_is_the_weakest_rank_correlation_over_lambda():
    import pandas as pd

    rising = pd.DataFrame({"lam_scale": 0.5, "mu": [0.1, 0.2, 0.3, 0.4], "gap": [1.0, 2.0, 3.0, 4.0]})
    mixed = pd.DataFrame({"lam_scale": 1.0, "mu": [0.1, 0.2, 0.3, 0.4], "gap": [1.0, 3.0, 2.0, 4.0]})
    assert csc.gap_grows_with_mu(rising) == pytest.approx(1.0)
    assert csc.gap_grows_with_mu(pd.concat([rising, mixed])) == pytest.approx(0.8)  # Spearman ρ = 1 − 6·2/(4·15)
    falling = mixed.assign(gap=[4.0, 3.0, 2.0, 1.0])
    assert csc.gap_grows_with_mu(pd.concat([rising, falling])) == pytest.approx(-1.0)


def _nonneg_objective_minimum(X, D, lam):
    """min over a ≥ 0 of mean ½‖p − Da‖² + λΣa by L-BFGS-B, patch by patch (λ of either sign)."""
    from scipy.optimize import minimize

    Xn, Dn, total = X.numpy(), D.numpy(), 0.0
    for p in Xn:
        def f(a: np.ndarray, p: np.ndarray = p) -> float:
            return 0.5 * ((p - Dn @ a) ** 2).sum() + lam * a.sum()

        def g(a: np.ndarray, p: np.ndarray = p) -> np.ndarray:
            return Dn.T @ (Dn @ a - p) + lam

        res = minimize(f, np.zeros(Dn.shape[1]), jac=g, bounds=[(0, None)] * Dn.shape[1], method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-12})
        total += res.fun
    return total / len(Xn)


def test_lambda_sweep_rows_are_the_exact_minimisers_for_every_sign_of_lambda(gen):
    X = torch.randn(6, 9, generator=gen, dtype=torch.float64)
    W = csc.orthonormal_filters(9, 1, 3, gen)
    D = csc.dictionary(W)
    table = csc.lambda_sweep(X, W, (0.5,))
    rms = float((X @ D).pow(2).mean().sqrt())
    assert list(table["lam_scale"]) == [-0.5, 0.0, 0.5]
    assert np.allclose(table["lam"], [-0.5 * rms, 0.0, 0.5 * rms])
    assert list(table["blank_code"]) == [pytest.approx(0.5 * rms), 0.0, 0.0]
    for _, row in table.iterrows():
        assert row["objective"] == pytest.approx(_nonneg_objective_minimum(X, D, row["lam"]), rel=1e-6, abs=1e-9)
    zero = table.iloc[1]
    codes = (X @ D).clamp_min(0)  # λ = 0: the non-negative projection in the orthonormal basis
    assert zero["active"] == pytest.approx(float((codes > 0).double().mean()))
    assert zero["recon_error"] == pytest.approx(float((X - codes @ D.T).pow(2).sum() / X.pow(2).sum()))
    negative = table.iloc[0]  # λ < 0 switches on every unit whose response exceeds λ, more than λ = 0 does
    assert negative["active"] == pytest.approx(float((X @ D > negative["lam"]).double().mean()))
    assert negative["active"] > zero["active"] > table.iloc[2]["active"]


def test_unbounded_direction_is_a_probability_vector():
    D = torch.tensor([[1.0, 1.0, -2.0]], dtype=torch.float64)
    v = csc.unbounded_direction(D)
    assert v is not None and float(v.sum()) == pytest.approx(1.0) and (v >= 0).all()
    assert float((D @ v).abs().max()) < 1e-9
    assert csc.unbounded_direction(torch.tensor([[1.0, 2.0], [0.5, 0.1]], dtype=torch.float64)) is None


def test_wendel_probability_matches_the_binomial_sum_and_its_limits():
    from math import comb

    for n in range(1, 9):
        for d in range(1, 6):
            expected = 1 - sum(comb(n - 1, k) for k in range(d)) / 2 ** (n - 1)
            assert csc.wendel_probability(n, d) == pytest.approx(expected, abs=1e-15)
    assert csc.wendel_probability(3, 3) == 0.0  # n ≤ d vectors in general position always lie in a half-space
    assert csc.wendel_probability(4, 3) == pytest.approx(1 / 8)
    for n, d in ((0, 2), (2, 0), (-1, 3)):
        with pytest.raises(ValueError, match="must be positive"):
            csc.wendel_probability(n, d)


def test_wendel_probability_agrees_with_sampled_random_vectors():
    gen = torch.Generator().manual_seed(0)
    hits = sum(csc.unbounded_direction(torch.randn(2, 5, generator=gen, dtype=torch.float64)) is not None for _ in range(300))
    assert abs(hits / 300 - csc.wendel_probability(5, 2)) < 0.1  # 1 − 5/16 = 0.6875, binomial σ ≈ 0.027


def test_single_filters_and_pixels_and_full_bases_are_allowed(gen):
    x = torch.randn(1, 2, 4, 5, generator=gen, dtype=torch.float64)
    assert torch.equal(csc.patches(x, 1), x.flatten(2).transpose(1, 2))  # 1 × 1 patches are the pixels
    assert csc.orthonormal_filters(1, 1, 3, gen).flatten().norm() == pytest.approx(1.0)
    assert csc.random_unit_filters(1, 1, 3, gen).shape == (1, 1, 3, 3)
    square = csc.orthonormalize_filters(torch.randn(9, 1, 3, 3, generator=gen, dtype=torch.float64))  # a full basis
    assert torch.allclose(csc.dictionary(square).T @ csc.dictionary(square), torch.eye(9, dtype=torch.float64), atol=1e-12)


def test_stride_defaults_to_one(gen):
    x = torch.randn(1, 1, 6, 7, generator=gen, dtype=torch.float64)
    W = torch.randn(3, 1, 3, 3, generator=gen, dtype=torch.float64)
    lam = torch.full((3,), 0.1, dtype=torch.float64)
    assert torch.equal(csc.analysis(x, W), csc.analysis(x, W, 1)) and csc.analysis(x, W).shape == (1, 3, 4, 5)
    assert torch.equal(csc.relu_layer(x, W, lam), csc.relu_layer(x, W, lam, 1))
    assert torch.equal(csc.per_atom_lambda(x, W, 1.0, torch.Generator().manual_seed(2)),
                       csc.per_atom_lambda(x, W, 1.0, torch.Generator().manual_seed(2), 1))


def test_unbatched_codes_synthesise_one_image(gen):
    W = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64)
    a = torch.randn(1, 4, 3, 4, generator=gen, dtype=torch.float64)
    assert torch.allclose(csc.synthesis(a[0], W, 2, (8, 9)), csc.synthesis(a, W, 2, (8, 9))[0])


def test_compare_relative_gap_does_not_depend_on_the_scale_of_the_images(gen):
    x = torch.randn(1, 1, 6, 6, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(6, 1, 3, gen)
    lam = torch.full((6,), 0.2, dtype=torch.float64)
    (row,), (small,) = csc.compare(x, W, lam), csc.compare(x * 1e-3, W, lam * 1e-3)  # codes scale by 1e-3 too
    assert small["max |code|"] < 1e-2
    assert small["relative gap"] == pytest.approx(row["relative gap"], rel=1e-6)


def test_patch_lasso_takes_lambda_in_the_images_precision(gen):
    x = torch.randn(1, 1, 5, 5, generator=gen, dtype=torch.float32)
    W = csc.random_unit_filters(4, 1, 3, gen, dtype=torch.float32)
    lam = torch.full((4,), 0.1, dtype=torch.float64)  # 0.1 is not a float32 number
    codes, _ = csc.patch_lasso(x, W, lam)
    assert torch.equal(codes, csc.patch_lasso(x, W, lam.float())[0])  # as the float32 ReLU layer takes it


def test_per_atom_lambda_of_double_images_is_computed_in_double_precision(gen):
    x = torch.randn(1, 1, 6, 6, generator=gen, dtype=torch.float64)
    W = csc.random_unit_filters(50, 1, 3, gen)
    lam = csc.per_atom_lambda(x, W, 1.0, gen)
    assert (lam.float().double() != lam).all()  # no λᵢ was rounded to a float32 on the way


def test_unbatched_codes_of_the_wrong_size_name_their_spatial_size(gen):
    W = torch.randn(4, 2, 3, 3, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"codes of spatial size \(3, 4\) cannot come from images of size \(12, 9\)"):
        csc.synthesis(torch.zeros(4, 3, 4, dtype=torch.float64), W, 2, (12, 9))
