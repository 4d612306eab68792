"""The CSC layer against closed forms and the certified LASSO; the two networks; the training helpers."""

import pytest
import torch
from torch.nn import functional as F

from scpaper import lasso, sdnet, train


@pytest.fixture
def layer() -> sdnet.CSCLayer:
    torch.manual_seed(0)
    return sdnet.CSCLayer(3, 6, lam=0.05).double().eval()


def test_atoms_have_unit_norm_and_conv_pair_is_adjoint(layer):
    assert torch.allclose(layer.atoms().flatten(1).norm(dim=1), torch.ones(6, dtype=torch.double))
    x, c = torch.randn(2, 3, 7, 5, dtype=torch.double), torch.randn(2, 6, 7, 5, dtype=torch.double)
    assert torch.isclose((layer.adjoint(x) * c).sum(), (x * layer.synthesize(c)).sum())


def test_dictionary_matrix_is_the_synthesis_operator(layer):
    D = sdnet.dictionary_matrix(layer, (5, 4))
    c = torch.randn(1, 6, 5, 4, dtype=torch.double)
    assert D.shape == (3 * 20, 6 * 20)
    assert torch.allclose(D @ c.flatten(), layer.synthesize(c).flatten())


def test_power_iteration_finds_the_largest_eigenvalue_of_DtD(layer):
    D = sdnet.dictionary_matrix(layer, (6, 6))
    top = torch.linalg.eigvalsh(D.T @ D).max()
    assert layer.power_iteration((6, 6), steps=500) == pytest.approx(float(top), rel=1e-3)


def test_one_step_from_zero_is_relu_of_scaled_correlation(layer):
    layer.n_iter = 1
    x = torch.randn(3, 3, 6, 6, dtype=torch.double)
    D = sdnet.dictionary_matrix(layer, (6, 6))
    codes = layer(x)
    eta = 0.9 / float(layer.lipschitz)
    expected = F.relu(eta * x.flatten(1) @ D - eta * layer.lam)
    assert torch.allclose(codes.flatten(1), expected)


def test_two_steps_match_sdnet_formula(layer):
    layer.n_iter = 2
    x = torch.randn(2, 3, 6, 6, dtype=torch.double)
    c2 = layer(x)
    eta, lam = 0.9 / float(layer.lipschitz), layer.lam
    c1 = F.relu(eta * layer.adjoint(x) - lam * eta)
    assert torch.allclose(c2, F.relu(c1 + eta * layer.adjoint(x - layer.synthesize(c1)) - lam * eta))


def test_layer_output_approaches_certified_lasso_as_iterations_grow(layer):
    x = torch.randn(4, 3, 6, 6, dtype=torch.double)
    D = sdnet.dictionary_matrix(layer, (6, 6))
    exact = lasso.solve(D, x.flatten(1), layer.lam, nonneg=True)
    assert exact.certified.all()
    for fista in (False, True):
        codes = sdnet.unrolled_codes(layer, x, (2, 20, 3000), fista=fista)
        errors = [float((codes[n].flatten(1) - exact.codes).norm() / exact.codes.norm()) for n in (2, 20, 3000)]
        assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4
    assert lasso.kkt_residual(D, x.flatten(1), codes[3000].flatten(1), layer.lam, nonneg=True).max() < 1e-6


def test_lasso_gap_reports_convergence(layer):
    gap = sdnet.lasso_gap(layer.float(), torch.randn(2, 3, 5, 5), (1, 2, 2000))
    assert gap["certified_fraction"] == 1.0
    assert gap["fista_error"][-1] < 1e-3 < gap["ista_error"][1]
    assert all(g >= -1e-9 for g in gap["ista_gap"] + gap["fista_gap"])


def test_layer_is_differentiable_by_autograd(layer):
    x = torch.randn(1, 3, 4, 4, dtype=torch.double, requires_grad=True)
    layer.power_iteration((4, 4), steps=50)
    assert torch.autograd.gradcheck(lambda z: layer(z + 0.3), (x,))
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="non-negative"):
        sdnet.CSCLayer(lam=-0.1)
    with pytest.raises(ValueError, match="expected input"):
        sdnet.CSCLayer()(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="unknown architecture"):
        sdnet.build("vgg")
    with pytest.raises(ValueError, match="needs an SDNet"):
        sdnet.set_lambda(sdnet.build("resnet", 2), 0.5)


def test_networks_share_shape_and_size_and_lambda_is_settable():
    torch.manual_seed(0)
    resnet, net = sdnet.build("resnet", 4).eval(), sdnet.build("sdnet", 4).eval()
    x = torch.rand(2, 3, 32, 32)
    assert resnet(x).shape == net(x).shape == (2, 10)
    assert sum(p.numel() for p in resnet.parameters()) == sum(p.numel() for p in net.parameters())
    before = net(x)
    assert not torch.allclose(before, sdnet.set_lambda(net, 1.0)(x))
    assert net.stem_residual(x).shape == (2,)


def test_crop_flip_moves_pixels_but_keeps_content():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    same = train.crop_flip(x, pad=0)
    assert all(torch.equal(a, b) or torch.equal(a, b.flip(-1)) for a, b in zip(same, x))
    out = train.crop_flip(x, pad=2)
    assert out.shape == x.shape and set(out.unique().tolist()) <= set(x.unique().tolist()) | {0.0}


def test_validation_split_is_a_disjoint_cover():
    X, y = torch.arange(50).view(50, 1), torch.arange(50)
    Xt, yt, Xv, yv = train.validation_split(X, y, 10, seed=1)
    assert len(Xv) == 10 and sorted(torch.cat([yt, yv]).tolist()) == list(range(50))
    with pytest.raises(ValueError, match="n_val"):
        train.validation_split(X, y, 50)
