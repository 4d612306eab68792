import itertools
import math

import numpy as np
import pytest
import torch

from scpaper import coherence, mlcsc, thresholds


@pytest.fixture(scope="module")
def model():
    return mlcsc.make_model(32, (1, 2, 3), (4, 9), (2,), (4,), seed=1)


def test_conv_dictionary_columns_are_shifted_filters_and_coherence_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    f = mlcsc.gaussian_filters(2, 1, 5, gen)
    D = mlcsc.conv_dictionary(f, 12)
    assert torch.allclose(D[:5, 2 * 0 + 1], f[1, 0])  # atom 1 at position 0
    assert torch.allclose(D[[3, 4, 5, 6, 7], 2 * 3], f[0, 0])  # atom 0 at position 3
    A = D.numpy() / np.linalg.norm(D.numpy(), axis=0)
    brute = max(abs(A[:, i] @ A[:, j]) for i, j in itertools.combinations(range(A.shape[1]), 2))
    assert coherence.mutual_coherence(D) == pytest.approx(brute)


def test_signals_satisfy_the_model_exactly(model):
    codes, Y = mlcsc.sample_signals(model, 50, 3, (4, 2), 0.3, 0.0, seed=0)
    assert torch.equal(codes[0], codes[1] @ model.dictionaries[1].T)
    assert torch.allclose(Y, codes[0] @ model.dictionaries[0].T)
    for i, (c, bound) in enumerate(zip(codes, (4, 2)), start=1):
        assert (mlcsc.local_l0(c, model.channels[i], mlcsc.stripe_width(model, i)) <= bound).all()
        mags = c.abs()
        ratio = torch.where(c != 0, mags, torch.inf).amin(1) / mags.amax(1)
        assert (ratio >= 0.3 - 1e-12).all()
    assert (codes[0] != 0).sum(1).equal(2 * (codes[1] != 0).sum(1))  # no collisions: 2 taps per atom


def test_one_ista_step_from_zero_is_a_forward_pass_layer(model):
    D = model.dictionaries[0]
    X = torch.randn(7, D.shape[0], dtype=torch.float64)
    eta = mlcsc.step_size(D)
    assert torch.allclose(mlcsc.ista(D, X, 0.1, 1), thresholds.soft(eta * X @ D, 0.1 * eta))


def test_thresholding_recovers_support_where_the_theorem_guarantees_it():
    single = mlcsc.make_model(32, (1, 2), (8,), (), None, seed=0)
    codes, Y = mlcsc.sample_signals(single, 200, 1, (1,), 0.9, 0.01, seed=3)
    cond = mlcsc.conditions(single, codes, Y - codes[0] @ single.dictionaries[0].T)
    assert cond.thresholding.all()
    est = mlcsc.layered_thresholding(single, Y, [cond.beta[:, :1]])
    assert (mlcsc.support_recovery(codes[0], est[0]) == 1).all()
    assert (mlcsc.local_error(single, 1, codes[0], est[0]) <= cond.eps[:, 0] + 1e-12).all()


def test_support_recovery_and_metrics():
    true = torch.tensor([[1.0, 0, 2, 0], [0, 0, 0, 0]])
    est = torch.tensor([[1.0, 3, 0, 0], [0, 0, 0, 0]])
    assert mlcsc.support_recovery(true, est).tolist() == [0.5, 1.0]
    assert mlcsc.exact_support(true, est).tolist() == [False, True]
    assert mlcsc.relative_error(true[:1], est[:1]).item() == pytest.approx((9 + 4) / 5)


def test_generator_gives_the_asked_local_sparsity_and_contrast():
    model = mlcsc.make_model(128, (1, 2, 4), (4, 16), (2,), (7,), seed=2)
    for k in (1, 2, 3):
        codes, _ = mlcsc.sample_signals(model, 40, 4, (k, k), 0.4, 0.0, seed=k, cluster=k)
        top = mlcsc.local_l0(codes[1], 4, mlcsc.stripe_width(model, 2))
        assert (top == k).all()  # the cluster reaches the cap exactly
        assert (mlcsc.local_l0(codes[0], 2, mlcsc.stripe_width(model, 1)) <= k).all()
        for c in codes:  # the asked contrast inside every signal, carried to the layer below
            assert torch.allclose(mlcsc.contrast(c), torch.full((40,), 0.4, dtype=torch.float64))


def test_per_trial_lambda_matches_separate_solves(model):
    codes, Y = mlcsc.sample_signals(model, 6, 3, (4, 2), 0.5, 0.01, seed=4)
    lam = torch.linspace(0.01, 0.05, 6, dtype=torch.float64)
    joint, _ = mlcsc.lasso_layer(model.dictionaries[0], Y, lam)
    for r in range(6):
        alone, _ = mlcsc.lasso_layer(model.dictionaries[0], Y[r:r + 1], float(lam[r]))
        assert torch.allclose(joint[r], alone[0], atol=1e-8)


def test_bad_inputs(model):
    with pytest.raises(ValueError, match="ratio"):
        mlcsc.sample_signals(model, 2, 1, (4, 2), 0.0, 0.0, seed=0)
    with pytest.raises(ValueError, match="max_local"):
        mlcsc.sample_signals(model, 2, 1, (4,), 0.5, 0.0, seed=0)
    with pytest.raises(ValueError, match="filters"):
        mlcsc.conv_dictionary(torch.ones(2, 3), 8)
    with pytest.raises(ValueError, match="init"):
        mlcsc.layered_ista(model, torch.zeros(1, 32, dtype=torch.float64), [0.1, 0.1], 1, init="bad")
    assert math.isfinite(model.coherences()[0])


def test_window_sums_match_an_explicit_circular_loop():
    x = torch.randn(3, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for width in (1, 4, 11):
        ref = np.array([[sum(row[(i + j) % 11] for j in range(width)) for i in range(11)] for row in x.numpy()])
        np.testing.assert_allclose(mlcsc.window_sums(x, width).numpy(), ref, rtol=0, atol=1e-12)
    counts = torch.zeros(1, 20)
    counts[0, [0, 19, 5]] = 1.0  # positions 19 and 0 are neighbours on the circle
    assert mlcsc.window_sums(counts, 2)[0].tolist()[19] == 2.0
    assert mlcsc.window_sums(counts, 2).amax().item() == 2.0


def test_low_coherence_filters_lower_mu_below_their_gaussian_start_at_unit_norm():
    m, n = 2, 8
    start = mlcsc.gaussian_filters(m, 1, n, torch.Generator().manual_seed(3))
    f = mlcsc.low_coherence_filters(m, n, seed=3, steps=150)
    assert torch.allclose(f.flatten(1).norm(dim=1), torch.ones(m, dtype=torch.float64))
    mu = [coherence.mutual_coherence(mlcsc.conv_dictionary(g, 4 * n)) for g in (start, f)]
    assert mu[1] < 0.75 * mu[0]
    # the circulant μ no longer depends on N once N ≥ 2n − 1
    assert coherence.mutual_coherence(mlcsc.conv_dictionary(f, 2 * n)) == pytest.approx(mu[1])


def _still_fits(model, support, bounds):
    """Brute force: the top-layer atoms that could join a support (one trial) with no collision below and
    ‖Γᵢ‖0,∞ within bounds, found by coding every enlarged support through the dictionaries."""
    top = support.double()
    fits = []
    for c in (~support).nonzero()[:, 0].tolist():
        x = top.clone()
        x[c] = 1.0
        codes, ok = [x[None]], True
        for D in reversed(model.dictionaries[1:]):
            codes.insert(0, codes[0] @ D.abs().T)
        for level, code in enumerate(codes):
            collide = code.abs().max() > code[code != 0].abs().min() + 1e-9  # two footprints share a row
            width = mlcsc.stripe_width(model, level + 1)
            ok &= not bool(collide) and int(mlcsc.local_l0(code, model.channels[level + 1], width)) <= bounds[level]
        if ok:
            fits.append(c)
    return fits


@pytest.mark.parametrize("layers", [1, 2])
def test_supports_drawn_to_saturation_leave_no_room_for_another_atom(layers):
    if layers == 1:
        f = mlcsc.gaussian_filters(2, 1, 5, torch.Generator().manual_seed(0))
        model = mlcsc.Model((mlcsc.conv_dictionary(f, 24),), (1, 2), (5,), 24)
        bounds = (2,)
    else:
        model = mlcsc.make_model(24, (1, 2, 2), (3, 6), (2,), (2,), seed=2)
        bounds = (3, 2)
    n_cand = model.dictionaries[-1].shape[1]
    # attempts=3: three failed draws in a row send a trial to the all-candidates check, which must not stop it early
    support = mlcsc.sample_supports(model, 8, n_cand, bounds, torch.Generator().manual_seed(5), attempts=3)
    for row in support:
        assert _still_fits(model, row, bounds) == []  # as full as the bounds allow
    sizes = support.sum(1)
    assert sizes.min() > 0 and sizes.max() < n_cand


def test_layered_ista_with_cached_steps_equals_the_layers_run_one_by_one(model):
    _, Y = mlcsc.sample_signals(model, 5, 3, (4, 2), 0.5, 0.01, seed=6)
    assert model.step_sizes == tuple(mlcsc.step_size(D) for D in model.dictionaries)
    for fista in (False, True):
        x, ref = Y, []
        for D, lam in zip(model.dictionaries, (0.05, 0.02)):
            x = mlcsc.ista(D, x, lam, 4, fista=fista)
            ref.append(x)
        got = mlcsc.layered_ista(model, Y, [0.05, 0.02], 4, fista=fista)
        assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(got, ref))
