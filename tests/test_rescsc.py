"""Res-CSC: convolutional operators, exact Lipschitz constant, and residual block ≡ Res-CSC step."""

import pytest
import torch

from scpaper import rescsc

DT = torch.float64


def dense_D(W: torch.Tensor, size: int) -> torch.Tensor:
    """The synthesis operator D as a dense matrix, column j = D e_j."""
    n = W.shape[0] * size * size
    return rescsc.synthesis(torch.eye(n, dtype=DT).view(n, W.shape[0], size, size), W).reshape(n, -1).T


def test_analysis_is_adjoint_of_synthesis_and_lipschitz_is_exact():
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(4, 3, 3, 3, generator=gen, dtype=DT)
    D = dense_D(W, 8)
    x = torch.randn(2, 3, 8, 8, generator=gen, dtype=DT)
    assert torch.allclose(rescsc.analysis(x, W).flatten(1), x.flatten(1) @ D, atol=1e-12)
    assert torch.isclose(rescsc.lipschitz(W, (8, 8)), torch.linalg.eigvalsh(D.T @ D).max(), rtol=1e-10)
    W2 = torch.randn(4, 4, 3, 3, generator=gen, dtype=DT)
    assert torch.isclose(rescsc.lipschitz(W2, (12, 12), dilation=2), torch.linalg.eigvalsh(
        (lambda M: M.T @ M)(rescsc.synthesis(torch.eye(576, dtype=DT).view(576, 4, 12, 12), W2, 2).reshape(576, -1).T)).max(),
        rtol=1e-10)


def test_gram_kernel_is_DtD():
    gen = torch.Generator().manual_seed(2)
    W = torch.randn(3, 3, 3, 3, generator=gen, dtype=DT)
    g = torch.randn(2, 3, 10, 10, generator=gen, dtype=DT)
    K = rescsc.gram_kernel(W)
    via_kernel = torch.nn.functional.conv2d(torch.nn.functional.pad(g, (2, 2, 2, 2), mode="circular"), K)
    assert torch.allclose(via_kernel, rescsc.analysis(rescsc.synthesis(g, W), W), atol=1e-12)


def test_residual_block_equals_rescsc_step():
    block, csc = rescsc.random_block_outputs(channels=5, size=12, seed=3)
    assert (block - csc).abs().max() < 1e-6
    assert (csc > 0).any() and (csc == 0).any()  # the threshold is active, so the check is not trivial


def test_rescsc_step_is_ista_step_from_previous_code():
    gen = torch.Generator().manual_seed(4)
    W = torch.randn(4, 4, 3, 3, generator=gen, dtype=DT)
    x, x_prev = torch.rand(1, 4, 8, 8, generator=gen, dtype=DT), torch.rand(1, 4, 8, 8, generator=gen, dtype=DT)
    L, beta = rescsc.lipschitz(W, (8, 8)), 0.3
    D = dense_D(W, 8)
    u = x_prev.flatten() - (D.T @ (D @ x_prev.flatten() - x.flatten())) / L
    assert torch.allclose(rescsc.rescsc_step(x, x_prev, W, beta, L).flatten(), torch.relu(u - beta / L), atol=1e-12)
    assert torch.allclose(rescsc.rescsc_step(x, torch.zeros_like(x_prev), W, beta, L), rescsc.layered_step(x, W, beta, L))


def test_plain_and_residual_nets_share_parameters_and_bad_input_fails():
    plain, res = rescsc.CSCNet(2, 4, residual=False), rescsc.CSCNet(2, 4, residual=True)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in res.parameters())
    assert res(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    with pytest.raises(ValueError, match="odd k"):
        rescsc.analysis(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        rescsc.layered_step(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), -1.0, 1.0)


def test_resnet_shortcut_and_delta_init():
    torch.manual_seed(0)
    net = rescsc.CSCNet(1, 4, residual=True, identity_shortcut=True, init="delta", rho0=-8.0)
    x = torch.randn(2, 3, 16, 16)
    size = tuple(x.shape[-2:])
    Ds = [W / rescsc.lipschitz(W.detach(), size).sqrt() for W in net.dictionaries]
    b = [torch.nn.functional.softplus(r) for r in net.rhos]
    g = rescsc.layered_step(x, Ds[0], b[0], 1.0)
    y = rescsc.layered_step(g, Ds[1], b[1], 1.0)
    g = torch.relu(g + rescsc.analysis(y, Ds[2]) - b[2].view(1, -1, 1, 1))  # ResNet: identity shortcut
    expected = net.readout(torch.nn.functional.adaptive_avg_pool2d(g, rescsc.READOUT_GRID).flatten(1))
    assert torch.allclose(net(x), expected, atol=1e-6) and torch.allclose(net.codes(x), g, atol=1e-6)
    centre = net.dictionaries[1][:, :, 1, 1].detach()  # near an orthogonal 1×1 map
    assert torch.allclose(centre @ centre.T, torch.eye(4), atol=0.1)
    torch.manual_seed(0)
    centre = rescsc.CSCNet(1, 4, residual=False, init="identity").dictionaries[1][:, :, 1, 1].detach()
    assert torch.allclose(centre, torch.eye(4), atol=0.1)
    with pytest.raises(ValueError, match="identity_shortcut needs residual"):
        rescsc.CSCNet(1, 4, residual=False, identity_shortcut=True)
    with pytest.raises(ValueError, match="unknown init"):
        rescsc.CSCNet(1, 4, residual=True, init="orthogonal")


@pytest.mark.parametrize("residual", [False, True])
def test_identity_init_keeps_the_signal_of_a_deep_stack(residual):
    """A non-negative code passes an identity-started step but for its threshold; an orthogonal start's ReLU cuts it."""
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    kept = {}
    for init in ("identity", "delta"):
        torch.manual_seed(0)
        net = rescsc.CSCNet(7, 8, residual=residual, init=init, rho0=-20.0)  # 15 layers, thresholds ~2e-9
        with torch.no_grad():
            stem = net.dictionaries[0] / rescsc.lipschitz(net.dictionaries[0], (16, 16)).sqrt()
            kept[init] = (net.codes(x).norm() / rescsc.layered_step(x, stem, 0.0, 1.0).norm()).item()
    assert kept["identity"] > 0.1 and kept["delta"] < 0.01


@pytest.mark.parametrize("residual", [False, True])
def test_codes_stay_fp32_under_bf16_autocast(residual):
    torch.manual_seed(0)
    net = rescsc.CSCNet(3, 4, residual=residual, init="identity", rho0=-8.0)  # thresholds ~3e-4: lost in bf16
    x = torch.rand(2, 3, 8, 8)
    reference = net.codes(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.nn.functional.conv2d(x, net.dictionaries[0]).dtype == torch.bfloat16  # autocast is active
        codes = net.codes(x)
    assert codes.dtype == torch.float32 and torch.allclose(codes, reference, atol=1e-6)
