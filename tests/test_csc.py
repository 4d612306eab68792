"""Sliding-window sparse coding: patches, the convolutional dictionary, and the ReLU-layer ↔ LASSO equivalence."""

import pytest
import torch

from scpaper import csc


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
    with pytest.raises(ValueError, match="orthonormal"):
        csc.lambda_sweep(X, csc.random_unit_filters(16, 1, 4, gen), (1.0,))


def test_unbounded_direction_exists_exactly_when_the_cone_meets_the_null_space():
    D = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    v = csc.unbounded_direction(D)
    assert v is not None and torch.allclose(D @ v, torch.zeros(2, dtype=torch.float64), atol=1e-9) and (v >= 0).all()
    assert csc.unbounded_direction(torch.eye(3, dtype=torch.float64)) is None


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        csc.patches(torch.zeros(3, 8, 8), 3)
    with pytest.raises(ValueError, match="NaN"):
        csc.patches(torch.full((1, 1, 8, 8), float("nan")), 3)
    with pytest.raises(ValueError, match="channels"):
        csc.analysis(torch.zeros(1, 2, 8, 8), torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        csc.per_atom_lambda(torch.zeros(1, 1, 8, 8), torch.ones(2, 1, 3, 3), -1.0, torch.Generator())
