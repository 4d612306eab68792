"""The CSC layer against closed forms and the certified LASSO; the two networks; the training helpers."""

import copy
import math

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
    layer = layer.float()
    gap = sdnet.lasso_gap(layer, torch.randn(2, 3, 5, 5), (1, 2, 2000))
    assert layer.weight.dtype == torch.float32  # measured on a double copy
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
    with pytest.raises(ValueError, match=r"^set_lambda needs an SDNet \(a network with a CSC stem\)$"):
        sdnet.set_lambda(sdnet.build("resnet", 2), 0.5)
    with pytest.raises(ValueError, match=r"^expected input \(B, 2, H, W\), got \(1, 1, 8, 8\)$"):
        sdnet.CSCLayer(2, 4)(torch.zeros(1, 1, 8, 8))


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


def test_default_layer_is_sdnets_stem_initialised_like_a_conv():
    torch.manual_seed(0)
    layer = sdnet.CSCLayer()
    conv = torch.nn.Conv2d(3, 64, 3)
    assert layer.weight.shape == (64, 3, 3, 3)
    assert (layer.padding, layer.n_iter, layer.fista, layer.power_steps, layer.lam) == (1, 2, False, 2, 0.1)
    bound = 1 / 27 ** 0.5  # nn.Conv2d's default: kaiming_uniform with a = √5 is U(−1/√fan_in, 1/√fan_in)
    top = float(layer.weight.detach().abs().max())
    assert float(conv.weight.detach().abs().max()) <= bound and 0.95 * bound < top <= bound
    assert layer.eval()(torch.rand(2, 3, 7, 5)).shape == (2, 64, 7, 5)  # padding 1 keeps the size


def test_zero_atoms_stay_zero_and_bad_settings_raise():
    layer = sdnet.CSCLayer(1, 3, 3, 0).double()
    with torch.no_grad():
        layer.weight[1] = 0
    atoms = layer.atoms()
    assert torch.isfinite(atoms).all() and atoms[1].abs().sum() == 0
    assert torch.allclose(atoms[[0, 2]].flatten(1).norm(dim=1), torch.ones(2, dtype=torch.double))
    for kwargs in ({"n_iter": 0}, {"power_steps": 0}):
        with pytest.raises(ValueError, match=r"^n_iter and power_steps must be ≥ 1"):
            sdnet.CSCLayer(**kwargs)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="^λ must be non-negative"):
            sdnet.CSCLayer(lam=bad)
    layer.lam = 0
    assert layer.lam == 0.0 and isinstance(layer.lam, float)
    assert sdnet.CSCLayer(n_iter=1, power_steps=1).n_iter == 1


def test_lipschitz_is_unset_until_estimated_and_deterministic(layer):
    assert math.isnan(layer.lipschitz)
    twin = copy.deepcopy(layer)
    assert layer.power_iteration((5, 5), 3) == twin.power_iteration((5, 5), 3)
    assert layer.lipschitz == twin.lipschitz


def test_power_iteration_defaults_to_the_layers_steps_and_warm_starts(layer):
    layer.power_steps = 3
    twin = copy.deepcopy(layer)
    assert layer.power_iteration((5, 5)) == twin.power_iteration((5, 5), 3)
    D = sdnet.dictionary_matrix(layer, (5, 5))
    top = float(torch.linalg.eigvalsh(D.T @ D).max())
    estimates = [layer.power_iteration((5, 5), 20) for _ in range(20)]  # warm start: the estimate keeps improving
    assert estimates[-1] == pytest.approx(top, rel=1e-3)
    assert layer.lipschitz <= top * (1 + 1e-9)  # a Rayleigh quotient never exceeds the top eigenvalue


def test_forward_estimates_L_once_in_eval_and_every_step_in_training(layer):
    x = torch.randn(1, 3, 5, 5, dtype=torch.double)
    twin = copy.deepcopy(layer)
    layer(x)
    assert layer.lipschitz == twin.power_iteration((5, 5), 50)  # a new shape: 50 steps from the fixed start
    first = layer.lipschitz
    layer(x)
    assert layer.lipschitz == first  # eval at a known shape: no new estimate
    layer.train()
    layer(x)
    assert layer.lipschitz == twin.power_iteration((5, 5), layer.power_steps)  # training: power_steps more
    layer.eval()
    layer(torch.randn(1, 3, 4, 6, dtype=torch.double))
    assert layer._v.shape == (1, 6, 4, 6)  # a new shape restarts at that size


def test_padding_and_kernel_size_set_the_code_size():
    layer = sdnet.CSCLayer(2, 3, 5, 0, lam=0.01).double().eval()
    x = torch.randn(1, 2, 9, 7, dtype=torch.double)
    assert layer(x).shape == (1, 3, 5, 3)
    D = sdnet.dictionary_matrix(layer, (9, 7))
    assert D.shape == (2 * 63, 3 * 15)
    c = torch.randn(1, 3, 5, 3, dtype=torch.double)
    assert torch.allclose(D @ c.flatten(), layer.synthesize(c).flatten())


def test_layer_computes_in_the_wider_of_its_weights_dtype_and_float32():
    torch.manual_seed(0)
    layer = sdnet.CSCLayer(3, 4).eval()
    x = torch.randn(1, 3, 5, 5)
    assert layer(x).dtype == torch.float32 and layer(x.double()).dtype == torch.float32
    assert layer.double()(x).dtype == torch.float64


def test_fista_extrapolates_first_into_the_third_step(layer):
    x = torch.randn(2, 3, 5, 5, dtype=torch.double)
    layer(x)  # estimates L at this size; the copies in unrolled_codes keep it
    ista = sdnet.unrolled_codes(layer, x, (1, 2, 3, 4))
    fista = sdnet.unrolled_codes(layer, x, (1, 2, 3, 4), fista=True)
    for n in (1, 2):  # Beck & Teboulle: y₂ = x₁ + (t₁ − 1)/t₂ · (x₁ − x₀) = x₁, since t₁ = 1
        assert torch.equal(ista[n], fista[n])
    eta, lam = 0.9 / layer.lipschitz, layer.lam
    step = lambda z: F.relu(z + eta * layer.adjoint(x - layer.synthesize(z)) - eta * lam)
    assert torch.allclose(ista[3], step(ista[2]))
    t2 = (1 + 5 ** 0.5) / 2
    t3 = (1 + (1 + 4 * t2 ** 2) ** 0.5) / 2
    t4 = (1 + (1 + 4 * t3 ** 2) ** 0.5) / 2
    y3 = ista[2] + (t2 - 1) / t3 * (ista[2] - ista[1])
    assert torch.allclose(fista[3], step(y3))
    assert not torch.allclose(fista[3], ista[3])
    assert torch.allclose(fista[4], step(fista[3] + (t3 - 1) / t4 * (fista[3] - ista[2])))


def test_unrolled_codes_leave_the_layer_untouched(layer):
    layer.train()
    x = torch.randn(1, 3, 5, 5, dtype=torch.double)
    out = sdnet.unrolled_codes(layer, x, (3, 1))
    assert list(out) == [3, 1]
    assert (layer.n_iter, layer.fista, layer.training) == (2, False, True)
    assert math.isnan(layer.lipschitz)  # the probe estimated L on its copy


def test_residual_is_the_reconstruction_error_of_each_image(layer):
    x, c = torch.randn(3, 3, 4, 5, dtype=torch.double), torch.rand(3, 6, 4, 5, dtype=torch.double)
    D = sdnet.dictionary_matrix(layer, (4, 5))
    expected = (x.flatten(1) - c.flatten(1) @ D.T).norm(dim=1)
    assert torch.allclose(layer.residual(x, c), expected)


def test_rescaled_cosine_is_zero_for_orthogonal_or_empty_codes():
    target = torch.zeros(2, 2, 2, 2)
    target[:, 0, 0, 0] = 1.0
    codes = torch.zeros(2, 2, 2, 2)
    codes[:, 0, 1, 1] = 1.0  # channel 0, another place: orthogonal to the target
    assert torch.equal(sdnet.rescaled_cosine(codes, target), torch.zeros(2))
    assert torch.equal(sdnet.rescaled_cosine(torch.zeros(2, 2, 2, 2), target), torch.zeros(2))  # no NaN
    codes[:, 0, 0, 0] = torch.tensor([2.0, 3.0])  # one channel, two images: one least-squares scale for both
    cos = sdnet.rescaled_cosine(codes, target)
    a = codes.flatten(1)
    assert torch.allclose(cos, a[:, 0] / a.norm(dim=1))


def test_rescaled_cosine_uses_the_least_squares_scale_per_channel():
    torch.manual_seed(1)
    codes, target = torch.rand(2, 3, 2, 2, dtype=torch.double), torch.rand(2, 3, 2, 2, dtype=torch.double)
    best = []
    for ch in range(3):  # brute force: the scale minimising ‖s·c − t‖ over a fine grid
        grid = torch.linspace(0, 3, 30001, dtype=torch.double)
        err = ((grid.view(-1, 1) * codes[:, ch].flatten() - target[:, ch].flatten()) ** 2).sum(1)
        best.append(grid[err.argmin()])
    scaled = (codes * torch.stack(best).view(1, 3, 1, 1)).flatten(1)
    expected = F.cosine_similarity(scaled, target.flatten(1), dim=1)
    assert torch.allclose(sdnet.rescaled_cosine(codes, target), expected, atol=1e-6)


def test_support_overlap_divides_by_the_larger_support():
    a = torch.tensor([[1.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]])
    assert sdnet.support_overlap(a, b).tolist() == [pytest.approx(1 / 3), 0.0, 1.0]
    assert sdnet.support_overlap(b, a).tolist() == [pytest.approx(1 / 3), 0.0, 1.0]


def test_lasso_gap_measures_the_unrolled_codes_against_the_certified_solution(layer):
    x = torch.randn(2, 3, 4, 4, dtype=torch.double)
    gap = sdnet.lasso_gap(layer, x, (1, 2, 3, 60))
    D = sdnet.dictionary_matrix(layer, (4, 4))
    star = lasso.solve(D, x.flatten(1), layer.lam, nonneg=True).codes
    assert gap["iterations"] == (1, 2, 3, 60) and gap["certified_fraction"] == 1.0
    assert gap["nonzero_fraction"] == pytest.approx(float((star > 0).double().mean()))
    assert 0 < gap["nonzero_fraction"] < 1
    assert gap["ista_error"][:2] == gap["fista_error"][:2] and gap["ista_gap"][:2] == gap["fista_gap"][:2]  # t₁ = 1
    assert gap["ista_error"][2] != gap["fista_error"][2]  # the first extrapolation enters the third step
    codes = sdnet.unrolled_codes(layer, x, (1,))[1].flatten(1)
    err = ((codes - star).norm(dim=1) / star.norm(dim=1)).mean()
    F_ = lambda c: layer.lam * c.abs().sum(1) + 0.5 * (x.flatten(1) - c @ D.T).pow(2).sum(1)
    assert gap["ista_error"][0] == pytest.approx(float(err), rel=1e-9)
    assert gap["ista_gap"][0] == pytest.approx(float(((F_(codes) - F_(star)) / F_(star)).mean()), rel=1e-9)
    for name in ("ista", "fista"):
        assert all(0 <= g for g in gap[f"{name}_gap"]) and gap[f"{name}_error"][0] > gap[f"{name}_error"][-1]
        assert 0 < gap[f"{name}_cosine"][0] < gap[f"{name}_cosine"][-1] <= 1 + 1e-12
        assert 0 <= gap[f"{name}_overlap"][0] <= 1
    assert gap["fista_error"][-1] < gap["ista_error"][-1] and gap["fista_gap"][-1] < gap["ista_gap"][-1]
    assert gap["ista_overlap"][0] == pytest.approx(float(sdnet.support_overlap(codes, star).mean()))
    assert gap["ista_cosine"][0] == pytest.approx(float(sdnet.rescaled_cosine(
        sdnet.unrolled_codes(layer, x, (1,))[1], star.view(2, 6, 4, 4)).mean()))
    assert math.isnan(layer.lipschitz) and layer.weight.dtype == torch.double  # measured on a copy


def test_build_passes_the_layers_settings_and_set_lambda_returns_the_model():
    torch.manual_seed(0)
    net = sdnet.build("sdnet", 5, lam=0.3, n_iter=4, fista=True)
    csc = net.csc
    assert isinstance(csc, sdnet.CSCLayer) and csc.weight.shape == (5, 3, 3, 3) and csc.padding == 1
    assert (csc.lam, csc.n_iter, csc.fista) == (0.3, 4, True)
    assert net.stem[0] is csc
    assert sdnet.build("resnet", 5).csc is None
    assert sdnet.set_lambda(net, 0.7) is net and csc.lam == 0.7
    with pytest.raises(ValueError, match="non-negative"):
        sdnet.set_lambda(net, -1.0)


def test_lasso_gap_is_scale_free(layer):
    x = torch.randn(2, 3, 4, 4, dtype=torch.double)
    small = copy.deepcopy(layer)
    small.lam = layer.lam * 1e-3  # the LASSO and ISTA are homogeneous: x → cx, λ → cλ scale every code by c
    big, tiny = sdnet.lasso_gap(layer, x, (1, 5)), sdnet.lasso_gap(small, x * 1e-3, (1, 5))
    for key in ("ista_error", "ista_gap", "fista_error", "fista_gap", "ista_cosine", "ista_overlap"):
        assert tiny[key] == pytest.approx(big[key], rel=1e-6)


def test_default_network_is_sdnet_18():
    torch.manual_seed(0)
    net = sdnet.build("sdnet")
    csc = net.csc
    assert csc.weight.shape == (64, 3, 3, 3) and csc.padding == 1
    assert (csc.lam, csc.n_iter, csc.fista) == (0.1, 2, False)


def test_only_the_weight_is_saved():
    layer = sdnet.CSCLayer(3, 4).eval()
    layer(torch.rand(1, 3, 6, 6))  # fills the power-iteration buffers
    assert list(layer.state_dict()) == ["weight"]  # the warm start and L are recomputed, never loaded


def test_bfloat16_layer_codes_in_float32():
    torch.manual_seed(0)
    layer = sdnet.CSCLayer(3, 4, n_iter=1).to(torch.bfloat16).eval()
    x = torch.randn(2, 3, 6, 6)
    codes = layer(x)
    assert codes.dtype == torch.float32
    eta = 0.9 / float(layer._L)  # the step from the stored L, in float32, not rounded to bfloat16
    W = layer.atoms().float()
    assert torch.allclose(codes, F.relu(eta * (F.conv2d(x, W, padding=1) - layer.lam)), rtol=1e-5, atol=1e-6)
    layer.n_iter = 3
    c1 = F.relu(eta * (F.conv2d(x, W, padding=1) - layer.lam))
    c2 = F.relu(c1 + eta * F.conv2d(x - F.conv_transpose2d(c1, W, padding=1), W, padding=1) - eta * layer.lam)
    c3 = F.relu(c2 + eta * F.conv2d(x - F.conv_transpose2d(c2, W, padding=1), W, padding=1) - eta * layer.lam)
    assert torch.allclose(layer(x), c3, rtol=1e-5, atol=1e-6)


def test_throughput_times_every_model_in_every_round_and_counts_saved_activations():
    models = {"resnet": sdnet.build("resnet", 4), "sdnet": sdnet.build("sdnet", 4)}
    out = sdnet.throughput(models, batch_size=4, steps=1, rounds=3, amp=False)
    for name in models:
        r = out[name]
        assert len(r["train_rounds"]) == len(r["infer_rounds"]) == 3
        assert r["train_img_s"] == sorted(r["train_rounds"])[1] and r["infer_img_s"] == sorted(r["infer_rounds"])[1]
        assert min(r["train_rounds"] + r["infer_rounds"]) > 0 and r["saved_mb"] > 0 and "peak_mb" not in r  # no GPU peak on CPU
        assert r["params"] == sum(p.numel() for p in models[name].parameters())
    assert out["sdnet"]["saved_mb"] > out["resnet"]["saved_mb"]  # the stem's unrolled steps keep more for backward


def test_saved_activations_scale_with_the_batch_and_leave_the_parameters_out():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16, bias=False), torch.nn.ReLU(), torch.nn.Linear(16, 4, bias=False))
    x = torch.randn(8, 8)
    assert sdnet.saved_bytes(mlp, x) == 2 * sdnet.saved_bytes(mlp, x[:4])  # the second weight (256 B) is not counted
    for arch in sdnet.ARCHS:
        net = sdnet.build(arch, 4)
        images = torch.rand(4, 3, 32, 32)
        full, half = sdnet.saved_bytes(net, images), sdnet.saved_bytes(net, images[:2])
        assert abs(full - 2 * half) < 0.01 * full  # BatchNorm's per-channel statistics are the only fixed part
