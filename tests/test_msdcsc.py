"""MSD-CSC: MSDNet layer ≡ thresholding with [I Fᵀ], ISTA descent, and Theorem 1's inequality."""

import pytest
import torch

from scpaper import msdcsc, rescsc

DT = torch.float64


def test_msd_layer_equals_msdcsc_step_against_dense_dictionary():
    gen = torch.Generator().manual_seed(0)
    W, beta = torch.randn(2, 3, 3, 3, generator=gen, dtype=DT), torch.rand(2, generator=gen, dtype=DT)
    G = torch.rand(2, 3, 10, 10, generator=gen, dtype=DT)
    n = 5 * 100
    D = msdcsc.msd_synthesis(torch.eye(n, dtype=DT).view(n, 5, 10, 10), W, 3).reshape(n, -1).T  # [I Fᵀ] as a matrix
    assert torch.allclose(D[:, :300], torch.eye(300, dtype=DT))
    thresholds = torch.cat([torch.zeros(300, dtype=DT), beta.repeat_interleave(100)])
    dense = torch.relu(G.flatten(1) @ D - thresholds)
    layer = msdcsc.msdlayer_from_msdcsc(W, beta, 3)
    with torch.no_grad():
        assert (layer(G).flatten(1) - dense).abs().max() < 1e-6
    out, csc = msdcsc.random_layer_outputs(4, 3, 12, 2, seed=5)
    assert (out - csc).abs().max() < 1e-6


def test_msdcsc_ista_decreases_the_layer_lasso():
    gen = torch.Generator().manual_seed(1)
    W, beta = torch.randn(3, 4, 3, 3, generator=gen, dtype=DT), torch.full((3,), 0.2, dtype=DT)
    G = torch.rand(2, 4, 12, 12, generator=gen, dtype=DT)
    th = msdcsc.msd_thresholds(0.1, beta, 4).to(G)
    D, Dt = (lambda c: msdcsc.msd_synthesis(c, W, 2)), (lambda r: msdcsc.msd_analysis(r, W, 2))
    objectives = [msdcsc.lasso_report(G, msdcsc.msdcsc_ista(G, W, beta, 2, t, 0.1), D, Dt, th)["objective"]
                  for t in (0, 1, 5, 20)]
    assert all(a >= b - 1e-9 for a, b in zip(objectives, objectives[1:]))


def test_theorem1_msd_objective_not_above_ml_and_fista_converges():
    gen = torch.Generator().manual_seed(2)
    W, beta = torch.randn(3, 4, 3, 3, generator=gen, dtype=DT), torch.full((3,), 0.1, dtype=DT)
    G = torch.rand(1, 4, 10, 10, generator=gen, dtype=DT)
    L = float(rescsc.lipschitz(W, (10, 10)))
    ml_D, ml_Dt = (lambda c: rescsc.synthesis(c, W)), (lambda r: rescsc.analysis(r, W))
    ml = msdcsc.nonneg_lasso(G, ml_D, ml_Dt, L, beta.view(1, -1, 1, 1), (1, 3, 10, 10), 2000)
    ml_rep = msdcsc.lasso_report(G, ml, ml_D, ml_Dt, beta.view(1, -1, 1, 1))
    th = msdcsc.msd_thresholds(0.5, beta, 4)
    msd_D, msd_Dt = (lambda c: msdcsc.msd_synthesis(c, W, 1)), (lambda r: msdcsc.msd_analysis(r, W, 1))
    msd = msdcsc.nonneg_lasso(G, msd_D, msd_Dt, 1 + L, th, (1, 7, 10, 10), 2000)
    msd_rep = msdcsc.lasso_report(G, msd, msd_D, msd_Dt, th)
    assert ml_rep["kkt"] < 1e-4 and msd_rep["kkt"] < 1e-4
    assert msd_rep["objective"] <= ml_rep["objective"] + 1e-9


def test_bad_shapes_fail():
    with pytest.raises(ValueError, match="channels"):
        msdcsc.msd_analysis(torch.randn(1, 3, 8, 8), torch.randn(2, 4, 3, 3), 1)
    with pytest.raises(ValueError, match="n_iter"):
        msdcsc.msdcsc_ista(torch.rand(1, 3, 8, 8), torch.randn(2, 3, 3, 3), torch.ones(2), 1, -1)


def test_msdnet_variant_matched_atoms_and_new_map_share():
    torch.manual_seed(0)
    net = msdcsc.MSDCSCNet(2, 2, 2, 0, carried_threshold=False)
    x = torch.rand(2, 3, 8, 8)
    layers = [msdcsc.msdlayer_from_msdcsc(W.detach(), torch.nn.functional.softplus(r).detach(), msdcsc.dilation_of(i, 2))
              for i, (W, r) in enumerate(zip(net.atoms, net.rho_new))]
    with torch.no_grad():
        assert torch.allclose(net.codes(x)[-1], layers[1](layers[0](x)), atol=1e-6)  # β_I = 0, T = 0: MSDNet
        last = net.codes(x)[-1]
    assert net.new_map_share(x) == pytest.approx(float(last[:, 3:].pow(2).sum() / last.pow(2).sum()))
    assert not net.rho_carried.requires_grad
    E = msdcsc.random_atoms(5, 3, 3, seed=1)
    assert E.shape == (5, 3, 3, 3) and torch.allclose(E.flatten(1).norm(dim=1), torch.ones(5, dtype=DT))
    G = torch.rand(2, 3, 6, 6, dtype=DT)
    assert torch.allclose(msdcsc.relative_errors(G, torch.zeros(2, 1), lambda c: torch.zeros_like(G)), torch.ones(2, dtype=DT))


def test_fit_groups_set_weight_decay_and_learning_rate_per_parameter():
    from scpaper.train import fit
    torch.manual_seed(0)
    net = msdcsc.MSDCSCNet(2, 2, 2, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X, y = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8), torch.arange(8) % 10
    fit(net, X, y, epochs=1, batch_size=4, lr=0.1, prepare=msdcsc.UnitImages(1), progress=False,
        groups=lambda name: {"lr_factor": 0.0, "weight_decay": 0.0} if "rho" in name else {})
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if "rho" in k)
    assert not torch.equal(before["atoms.0"], after["atoms.0"])
    with pytest.raises(ValueError, match="unknown keys"):
        fit(net, X, y, epochs=1, batch_size=4, lr=0.1, prepare=msdcsc.UnitImages(1), progress=False,
            groups=lambda name: {"momentum": 0.5})


def test_codes_stay_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    net = msdcsc.MSDCSCNet(3, 2, 2, 1)
    x = torch.rand(2, 3, 12, 12)
    reference = net.codes(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.nn.functional.conv2d(x, net.atoms[0]).dtype == torch.bfloat16  # autocast is active
        codes = net.codes(x)
    assert all(c.dtype == torch.float32 for c in codes)
    assert all(torch.allclose(c, r, atol=1e-6) for c, r in zip(codes, reference))
