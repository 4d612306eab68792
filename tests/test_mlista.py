"""Unrolled pursuits: T = 0 is the CNN, shapes, equal parameter counts, and the ISTA step."""

import pytest
import torch
import torch.nn.functional as F

from scpaper import mlista


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
    x, g = torch.rand(2, 1, 28, 28, dtype=torch.float64), torch.rand(2, 4, 12, 12, dtype=torch.float64)
    assert torch.isclose((net.Dt(0, x) * g).sum(), (x * net.D(0, g)).sum())
    g_var = g.clone().requires_grad_()
    (0.5 * (x - net.D(0, g_var)).pow(2).sum()).backward()
    assert torch.allclose(net.step(0, g, x), F.relu(g - g_var.grad + net.b[0]))


def test_bad_mode_fails():
    with pytest.raises(ValueError, match="unknown mode"):
        mlista.UnrolledNet((4, 8, 16), 1, "admm")
