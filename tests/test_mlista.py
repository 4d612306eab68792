"""Unrolled pursuits: T = 0 is the CNN, bounded steps, fp32 under autocast, and a dense ML-ISTA/FISTA/LBP reference."""

import pytest
import torch
import torch.nn.functional as F

from scpaper import mlista
from scpaper.fista import iterate
from scpaper.train import fit

DT = torch.float64


def cnn_forward(net: mlista.UnrolledNet, x: torch.Tensor) -> torch.Tensor:
    """The plain CNN with the same weights: conv–bias–ReLU three times, then the read-out."""
    g = x
    for i in range(3):
        g = F.relu(F.conv2d(g, net.W[i], stride=mlista.STRIDES[i]) + net.b[i])
    return net.readout(g.flatten(1))


@pytest.mark.parametrize("mode", mlista.MODES)
def test_T0_is_the_cnn_and_parameters_do_not_grow_with_T(mode):
    torch.manual_seed(0)
    net = mlista.UnrolledNet((4, 8, 16), 0, mode)
    for b in net.b:
        b.data.uniform_(-0.1, 0.1)
    x = torch.rand(3, 1, 28, 28)
    assert (net(x) - cnn_forward(net, x)).abs().max() < 1e-6
    assert mlista.n_parameters(mlista.UnrolledNet((4, 8, 16), 5, mode)) == mlista.n_parameters(net)
    net.T = 2
    assert not torch.allclose(net(x), cnn_forward(net, x))


def test_D_is_adjoint_of_Dt_and_step_is_projected_gradient():
    torch.manual_seed(1)
    net = mlista.UnrolledNet((4, 8, 16), 1).double()
    x, g = torch.rand(2, 1, 28, 28, dtype=DT), torch.rand(2, 4, 12, 12, dtype=DT)
    assert torch.isclose((net.Dt(0, x) * g).sum(), (x * net.D(0, g)).sum())
    g_var = g.clone().requires_grad_()
    (0.5 * (x - net.D(0, g_var)).pow(2).sum()).backward()
    assert torch.allclose(net.step(0, g, x, 0.3), F.relu(g - 0.3 * g_var.grad + net.b[0]))


def dense(net: mlista.UnrolledNet, i: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Dᵢ as a dense matrix (signal × code), column j = Dᵢ e_j, for codes of shape (m, H, W)."""
    n = shape[0] * shape[1] * shape[2]
    return net.D(i, torch.eye(n, dtype=DT).view(n, *shape)).reshape(n, -1).T


@pytest.mark.parametrize("mode", mlista.MODES)
@pytest.mark.parametrize("T", [2, 3])
def test_unrolled_nets_match_a_dense_reference(mode, T):
    torch.manual_seed(2)
    net = mlista.UnrolledNet((3, 4, 6), T, mode, init_gain=1.5).double().eval()
    x = torch.rand(2, 1, 28, 28, dtype=DT)
    shapes = net.code_shapes(x)
    with torch.no_grad():
        Ds = [dense(net, i, s) for i, s in enumerate(shapes)]
        L = [float(torch.linalg.eigvalsh(D.T @ D).max()) for D in Ds]
        net.c.copy_(torch.tensor([0.8 / L[0], 3 / L[1], 1.0 / L[2]], dtype=DT))  # layer 2's c is cut down to 1/L₂
        for b in net.b:
            b.uniform_(-0.2, 0.05)
    eta = net.steps(shapes).tolist()  # the dense reference uses the net's steps; they match 1/Lᵢ above
    assert eta[1] == pytest.approx(1 / L[1], rel=1e-4) and eta[0] == pytest.approx(0.8 / L[0])
    bias = [b.detach().expand(1, *s).reshape(-1) for b, s in zip(net.b, shapes)]

    def prox_step(i, g, signal):
        return torch.relu(g - eta[i] * (g @ Ds[i].T - signal) @ Ds[i] + bias[i])

    def cnn_layer(i, signal):
        return torch.relu(signal @ Ds[i] + bias[i])

    xs = x.reshape(2, -1)
    if mode == "lbp":  # T ISTA steps on each layer's own problem from its CNN layer, layer after layer
        g = xs
        for i in range(3):
            g = iterate(lambda z, i=i, s=g: prox_step(i, z, s), cnn_layer(i, g), T, momentum=False)
    else:  # T sweeps from the CNN's Γ₃, with momentum on Γ₃ for ML-FISTA

        def sweep(g3):
            g1 = prox_step(0, g3 @ Ds[2].T @ Ds[1].T, xs)  # Γ₂ = D₃Γ₃, Γ₁ = D₂Γ₂, then a step on every layer
            g2 = prox_step(1, g3 @ Ds[2].T, g1)
            return prox_step(2, g3, g2)

        g = iterate(sweep, cnn_layer(2, cnn_layer(1, cnn_layer(0, xs))), T, momentum=mode == "fista")
    with torch.no_grad():
        assert (net.codes(x)[2].reshape(2, -1) - g).abs().max() < 1e-10
        assert (g > 0).any()


def test_steps_stay_convergent_and_nets_stay_fp32_under_autocast():
    torch.manual_seed(3)
    net = mlista.UnrolledNet((32, 64, 128), 2, "fista", init_gain=1.0).eval()
    x = torch.rand(4, 1, 28, 28)
    eta = net.steps(net.code_shapes(x))
    assert (eta * net.lipschitz <= 1 + 1e-6).all() and net.lipschitz[0] > 1  # c₁ = 1 would not be convergent here
    reference, reference_codes = net(x), net.codes(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        codes = net.codes(x)
    assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in codes)
    assert torch.allclose(out, reference, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(codes, reference_codes))
    assert torch.allclose(net.readout(reference_codes[2].flatten(1)), reference, atol=1e-6)  # codes() is fp32 inside too


def test_exact_lipschitz_is_the_dense_operators_top_eigenvalue_and_catches_a_stale_estimate():
    torch.manual_seed(7)
    net = mlista.UnrolledNet((4, 8, 16), 1, init_gain=1.0).double().eval()
    x = torch.zeros(1, 1, 28, 28, dtype=DT)
    exact = mlista.exact_lipschitz(net, x)
    for i, (signal, code) in enumerate(zip([(1, 28, 28)] + net.code_shapes(x)[:-1], net.code_shapes(x))):
        n = torch.Size(code).numel()
        D = F.conv_transpose2d(torch.eye(n, dtype=DT).reshape(n, *code), net.W[i].detach(),
                               stride=mlista.STRIDES[i]).reshape(n, -1).T  # columns are the atoms at every shift
        assert D.shape[0] == torch.Size(signal).numel()
        assert exact[i] == pytest.approx(torch.linalg.eigvalsh(D.T @ D).max().item(), rel=1e-10)
    eta = net.steps(net.code_shapes(x))
    assert (eta * torch.tensor(exact, dtype=DT) <= 1 + 1e-3).all()  # 200 fresh power steps: at most 0.1 % low
    net.lipschitz.mul_(0.25)  # a stale estimate four times too small: steps of up to 4/λ_max
    eta = net.steps(net.code_shapes(x))
    assert (eta * torch.tensor(exact, dtype=DT)).max() > 2  # what the chapter's convergence control reports


def test_inputs_take_the_nets_dtype_and_may_omit_the_channel():
    torch.manual_seed(4)
    net = mlista.UnrolledNet((4, 8, 16), 1).double().eval()
    x = torch.rand(3, 28, 28)
    out = net(x)
    assert out.dtype == torch.float64 and out.shape == (3, 10)
    assert torch.equal(out, net(x.unsqueeze(1).double())) and net.codes(x.unsqueeze(1))[2].dtype == torch.float64


def test_initial_atoms_have_the_stated_scale_and_L_is_not_saved():
    torch.manual_seed(5)
    net = mlista.UnrolledNet((64, 64, 64), 1, init_gain=0.5)
    for W in net.W:
        fan_in = W.shape[1] * W.shape[2] * W.shape[3]
        assert W.std().item() == pytest.approx(0.5 / fan_in ** 0.5, rel=0.05)
    assert net.readout.out_features == 10
    assert "lipschitz" not in net.state_dict()  # a loaded net estimates its own L, never a stale one


def test_L_is_refreshed_for_a_new_shape_or_when_unknown_even_in_eval():
    torch.manual_seed(6)
    net = mlista.UnrolledNet((4, 8, 16), 1, init_gain=1.0).eval()
    small = net.code_shapes(torch.zeros(1, 1, 28, 28))
    large = net.code_shapes(torch.zeros(1, 1, 44, 44))
    net.steps(small)
    L_small = net.lipschitz.clone()
    net.steps(large)
    L_large = net.lipschitz.clone()
    assert not torch.allclose(L_small[:2], L_large[:2], rtol=1e-4)
    net.lipschitz.fill_(float("nan"))
    net.steps(large)
    assert torch.allclose(net.lipschitz, L_large, rtol=1e-3)
    net._v = [None, None, None]
    net.steps(large)
    assert torch.isfinite(net.lipschitz).all()


def test_a_nan_loss_stops_training_with_one_line():
    net = mlista.UnrolledNet((4, 8, 16), 1)
    X, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
    X[3, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"training loss is nan at step 0 of 2 \(UnrolledNet"):
        fit(net, X, y, epochs=1, batch_size=4, lr=0.01, seed=0, progress=False, stop_on_nan=True, schedule=lambda s, t: 1.0)


def test_bad_mode_and_shapes_fail_with_one_line():
    with pytest.raises(ValueError, match="unknown mode 'admm': choose one of ista, fista, lbp"):
        mlista.UnrolledNet((4, 8, 16), 1, "admm")
    for T, widths in ((-1, (4, 8, 16)), (1, (4, 8)), (1, (4, 0, 16))):
        with pytest.raises(ValueError, match="T must be ≥ 0 and widths three positive numbers"):
            mlista.UnrolledNet(widths, T)
    assert mlista.UnrolledNet((1, 1, 1), 0)(torch.rand(2, 28, 28)).shape == (2, 10)
