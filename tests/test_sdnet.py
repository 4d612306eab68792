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


def test_csc_layer_stays_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    net = sdnet.build("sdnet", 4).eval()  # eval: L is estimated once, so both calls use the same step
    x = torch.rand(2, 3, 16, 16)
    reference = net.csc(net.normalize(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        codes = net.csc(net.normalize(x))
        assert torch.nn.functional.conv2d(x, net.csc.weight).dtype == torch.bfloat16  # autocast is active around it
    assert codes.dtype == torch.float32 and net.csc._L.dtype == torch.float32
    assert torch.allclose(codes, reference, atol=1e-6)


def test_training_forward_never_reads_a_tensor_back_to_the_host(monkeypatch):
    torch.manual_seed(0)
    net = sdnet.build("sdnet", 4).train()
    x = torch.rand(2, 3, 16, 16)
    net(x)  # first call sizes the power-iteration vector

    def sync(*_: object) -> None:
        raise AssertionError("host sync in the CSC layer's forward")

    for name in ("__float__", "item", "tolist", "__bool__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    net(x).sum().backward()


def test_rescaled_cosine_ignores_per_channel_scale_and_support_overlap_counts_shared_nonzeros():
    torch.manual_seed(0)
    c = torch.relu(torch.randn(3, 4, 5, 5))
    scale = torch.tensor([0.5, 2.0, 3.0, 0.1]).view(1, 4, 1, 1)
    assert torch.allclose(sdnet.rescaled_cosine(c * scale, c), torch.ones(3, dtype=c.dtype))
    assert sdnet.rescaled_cosine(c, torch.relu(torch.randn(3, 4, 5, 5))).max() < 0.9
    a, b = torch.tensor([[1.0, 0.0, 2.0, 0.0]]), torch.tensor([[3.0, 1.0, 0.0, 0.0]])
    assert float(sdnet.support_overlap(a, b)) == pytest.approx(0.5)
