"""Stacked non-negative sparse-coding layers, their CNN twin, and the unrolled LASSO layer."""

import pytest
import torch
import torch.nn.functional as F

from scpaper import csc, scnet, train
from scpaper.data import load_mnist


@pytest.fixture
def x():
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_scnet_and_its_cnn_twin_are_one_function(x):
    torch.manual_seed(0)
    model = scnet.SCNet(channels=(1, 4, 6))
    assert (torch.cat([layer.lam for layer in model.layers]) < 0).any()  # mixed-sign λ, as after free training
    twin = scnet.to_cnn(model)
    assert isinstance(twin[0], torch.nn.Conv2d) and isinstance(twin[-1], torch.nn.Linear)
    assert torch.allclose(model(x), twin(x), atol=1e-6)
    assert scnet.twin_gap(model, x)["agreement"] == 1.0


def test_gradient_of_lambda_is_minus_gradient_of_bias(x):
    torch.manual_seed(0)
    model = scnet.SCNet(channels=(1, 4, 6))
    twin = scnet.to_cnn(model)
    y = torch.arange(6) % 10
    F.cross_entropy(model(x), y).backward()
    F.cross_entropy(twin(x), y).backward()
    assert torch.allclose(model.layers[0].lam.grad, -twin[0].bias.grad, atol=1e-6)
    assert torch.allclose(model.layers[1].weight.grad, twin[2].weight.grad, atol=1e-6)


def test_projection_keeps_unit_filters_and_lambda_floor(x):
    layer = scnet.NonNegSC(1, 5, 5, 2, lam_min=0.3)
    with torch.no_grad():
        layer.lam.fill_(-1.0)
        layer.weight.mul_(7.0)
    layer(x)
    assert torch.all(layer.lam >= 0.3)
    assert torch.allclose(layer.weight.flatten(1).norm(dim=1), torch.ones(5))


def test_one_unit_step_from_zero_is_the_relu_layer(x):
    lasso_layer = scnet.LassoSC(1, 8, 5, 2, steps=1, step=1.0)
    relu_layer = scnet.NonNegSC(1, 8, 5, 2)
    relu_layer.load_state_dict(lasso_layer.state_dict())
    assert torch.allclose(lasso_layer(x), relu_layer(x), atol=1e-6)


def test_unrolled_fista_layer_reaches_the_certified_lasso_code(x):
    layer = scnet.LassoSC(1, 12, 5, 3, lam_min=0.05, steps=400)
    out = scnet.lasso_layer_gap(layer, x[:2])
    assert out["certified"] == 1.0 and out["relative_gap"] < 1e-3


def test_orthonormal_filters_make_the_lasso_layer_the_relu_layer(x):
    layer = scnet.LassoSC(1, 25, 5, 1, steps=5)
    relu_layer = scnet.NonNegSC(1, 25, 5, 1)
    with torch.no_grad():
        layer.weight.copy_(csc.orthonormal_filters(25, 1, 5, torch.Generator().manual_seed(1), torch.float32))
        layer.lam.fill_(0.2)
    relu_layer.load_state_dict(layer.state_dict())
    assert torch.allclose(layer(x), relu_layer(x), atol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="lam_min"):
        scnet.NonNegSC(1, 4, 3, lam_min=-0.1)
    with pytest.raises(ValueError, match="one kernel size and stride per layer"):
        scnet.SCNet(channels=(1, 4, 8), kernel_sizes=(5,), strides=(2, 2))
    with pytest.raises(ValueError, match="no plain-CNN twin"):
        scnet.to_cnn(scnet.SCNet(channels=(1, 4, 6), lasso_steps=2))
    with pytest.raises(ValueError, match="sigma"):
        scnet.add_noise(torch.zeros(2, 1, 4, 4), -0.1)


def test_orthonormal_projection_keeps_filters_orthonormal_and_lambda_non_negative(x):
    layer = scnet.OrthSC(16, 32, 5, 2)  # 32 filters in 400 dimensions
    with torch.no_grad():
        layer.weight.add_(torch.randn(layer.weight.shape, generator=torch.Generator().manual_seed(1)))
        layer.lam.sub_(1.0)
    layer(torch.rand(2, 16, 12, 12))
    D = csc.dictionary(layer.weight.detach().double())
    assert (D.T @ D - torch.eye(32, dtype=torch.float64)).abs().max() < 1e-6
    assert (layer.lam >= 0).all()
    with pytest.raises(ValueError, match="cannot be orthonormal"):
        scnet.OrthSC(1, 26, 5)


def test_orthonormal_network_layers_are_certified_lasso_codes(x):
    model = scnet.SCNet(orthonormal=True, positive_init=True)
    W = model.layers[0].weight.detach().double()
    model.layers[0](x)  # project
    codes, result = csc.patch_lasso(x.double(), W, model.layers[0].lam.detach().double(), 2)
    assert result.certified_fraction == 1.0
    assert (model.codes(x)[0].double() - codes).abs().max() < 1e-5


def test_positive_init_and_no_decay_on_lambda():
    torch.manual_seed(0)
    assert (scnet.NonNegSC(1, 64, 5, positive_init=True).lam >= 0).all()
    assert (scnet.NonNegSC(1, 64, 5).lam < 0).any()
    model = scnet.SCNet(positive_init=True)
    X, y = torch.zeros(8, 1, 28, 28), torch.zeros(8, dtype=torch.long)
    with torch.no_grad():
        model.classifier.weight.zero_(), model.classifier.bias.zero_()
    before = [l.lam.detach().clone() for l in model.layers]
    train.fit(model, X, y, epochs=1, batch_size=8, lr=0.1, weight_decay=0.5, groups=scnet.no_decay_on_lambda, progress=False)
    assert all(torch.equal(b, l.lam.detach()) for b, l in zip(before, model.layers))  # zero gradient, no decay


def test_wendel_probability_is_one_half_at_twice_over_complete():
    assert csc.wendel_probability(50, 25) == pytest.approx(0.5, abs=1e-12)
    assert csc.wendel_probability(25, 25) == 0.0 and csc.wendel_probability(200, 25) > 0.999


def test_mnist_split_takes_the_rows_of_the_validation_split():
    X, y = load_mnist("train")
    Xt, yt = load_mnist("test")
    Xtr, ytr, Xv, yv = train.validation_split(X[:, None], y, 300, seed=4)
    split = scnet.mnist_split(1000, 300, 200, 4)
    assert torch.equal(split["train"][0], Xtr[:1000]) and torch.equal(split["train"][1], ytr[:1000])
    assert torch.equal(split["val"][0], Xv) and torch.equal(split["val"][1], yv)
    assert torch.equal(split["test"][0], Xt[:200, None]) and torch.equal(split["test"][1], yt[:200])


def test_lasso_layer_stays_fp32_under_bf16_autocast(x):
    torch.manual_seed(0)
    layer = scnet.LassoSC(1, 12, 5, 3, lam_min=0.05, steps=20)
    reference = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert F.conv2d(x, layer.weight).dtype == torch.bfloat16  # autocast is active
        codes = layer(x)
    assert codes.dtype == torch.float32 and torch.allclose(codes, reference, atol=1e-6)
