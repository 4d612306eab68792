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


def test_relative_error_is_the_squared_error_ratio_per_trial_and_scale_free():
    gen = torch.Generator().manual_seed(0)
    true, est = torch.randn(4, 9, generator=gen, dtype=torch.float64), torch.randn(4, 9, generator=gen, dtype=torch.float64)
    ref = [float(((e - t) ** 2).sum() / (t ** 2).sum()) for t, e in zip(true.numpy(), est.numpy())]
    assert mlcsc.relative_error(true, est).tolist() == pytest.approx(ref, rel=1e-12)
    assert mlcsc.relative_error(1e-3 * true, 1e-3 * est).tolist() == pytest.approx(ref, rel=1e-9)
    zero = torch.zeros(1, 9, dtype=torch.float64)
    assert mlcsc.relative_error(zero, zero).item() == 0.0  # an empty code estimated as empty: no error, no NaN


def test_exact_support_compares_non_zero_patterns_only():
    true = torch.tensor([[1.0, 0, -2, 0], [1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 0]])
    est = torch.tensor([[5.0, 0, 3, 0], [1.0, 1e-9, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 0]])
    assert mlcsc.exact_support(true, est).tolist() == [True, False, False, True]


def test_support_recovery_matches_set_arithmetic():
    gen = torch.Generator().manual_seed(1)
    true = torch.randn(30, 12, generator=gen, dtype=torch.float64) * (torch.rand(30, 12, generator=gen) < 0.3)
    est = torch.randn(30, 12, generator=gen, dtype=torch.float64) * (torch.rand(30, 12, generator=gen) < 0.4)
    for tol in (0.0, 0.5):
        expected = []
        for t, e in zip(true.tolist(), est.tolist()):
            S = {i for i, v in enumerate(t) if v != 0}
            Sh = {i for i, v in enumerate(e) if abs(v) > tol}
            expected.append(len(S & Sh) / max(len(S), len(Sh)) if S or Sh else 1.0)
        assert mlcsc.support_recovery(true, est, tol).tolist() == pytest.approx(expected)
    empty = torch.zeros(1, 12, dtype=torch.float64)
    assert mlcsc.support_recovery(true[:1], empty).item() == 0.0 and mlcsc.support_recovery(empty, true[:1]).item() == 0.0
    assert mlcsc.support_recovery(empty, empty).item() == 1.0
    assert mlcsc.support_recovery(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.2, 0.0]]), 0.2).item() == 0.0  # |v| = tol is off


def test_contrast_is_the_smallest_over_the_largest_non_zero_magnitude():
    code = torch.tensor([[0.0, -4.0, 1.0, 0.0, 2.0], [0.0, 0.0, -3.0, 0.0, 0.0], [0.0] * 5, [1e-3, 0, 0, 0, -4e-3]],
                        dtype=torch.float64)
    assert mlcsc.contrast(code).tolist() == pytest.approx([0.25, 1.0, 1.0, 0.25])


def test_local_error_is_the_largest_stripe_norm_of_the_difference():
    gen = torch.Generator().manual_seed(2)
    D = mlcsc.conv_dictionary(mlcsc.gaussian_filters(2, 1, 3, gen), 10)
    model = mlcsc.Model((D,), (1, 2), (3,), 10)  # stripes of 2·3 − 1 = 5 positions, 2 channels each
    true, est = torch.randn(3, 20, generator=gen, dtype=torch.float64), torch.randn(3, 20, generator=gen, dtype=torch.float64)
    diff = (est - true).view(3, 10, 2)
    ref = [max(float(diff[t, [(p + j) % 10 for j in range(5)]].norm()) for p in range(10)) for t in range(3)]
    assert mlcsc.local_error(model, 1, true, est).tolist() == pytest.approx(ref, rel=1e-12)


def test_the_error_of_a_middle_layer_is_measured_on_the_next_layers_patches():
    model = _tiny_model()  # n₂ = 3 on 12 positions: layer 1's error patches are 3 wide, layer 2's stripes 2·3 − 1 = 5
    assert mlcsc.error_window(model, 1) == model.lengths[1] and mlcsc.error_window(model, 2) == 2 * model.lengths[1] - 1
    true = torch.zeros(1, 24, dtype=torch.float64)
    est = true.clone()
    est[0, [2 * 0, 2 * 3, 2 * 6]] = torch.tensor([3.0, 4.0, 12.0], dtype=torch.float64)  # positions 0, 3, 6 of channel 0
    assert mlcsc.local_error(model, 1, true, est).item() == pytest.approx(12.0)  # no 3-wide patch holds two of them
    est[0, 2 * 7] = 5.0  # position 7 shares a patch with position 6 (a 5-wide stripe would also take in position 3)
    assert mlcsc.local_error(model, 1, true, est).item() == pytest.approx(13.0)


def _tiny_model() -> mlcsc.Model:
    """A two-layer model on 12 positions, built directly (no filter design): D₁ 12 × 24, D₂ 24 × 36."""
    gen = torch.Generator().manual_seed(5)
    D1 = mlcsc.conv_dictionary(mlcsc.gaussian_filters(2, 1, 3, gen), 12)
    D2 = mlcsc.conv_dictionary(mlcsc.sparse_filters(3, 2, 3, 2, gen), 12)
    return mlcsc.Model((D1, D2), (1, 2, 3), (3, 3), 12)


def _soft(u: np.ndarray, beta) -> np.ndarray:
    return np.sign(u) * np.maximum(np.abs(u) - np.maximum(beta, 0), 0)


def test_layered_thresholding_soft_thresholds_each_layer_in_turn():
    model = _tiny_model()
    Y = torch.randn(4, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    D1, D2 = (D.numpy() for D in model.dictionaries)
    g1 = _soft(Y.numpy() @ D1, 0.3)
    g2 = _soft(g1 @ D2, 0.1)
    out = mlcsc.layered_thresholding(model, Y, [0.3, 0.1])
    np.testing.assert_allclose(out[0].numpy(), g1, atol=1e-12)
    np.testing.assert_allclose(out[1].numpy(), g2, atol=1e-12)
    beta = torch.tensor([[0.3], [0.5], [-0.2], [0.0]], dtype=torch.float64)  # one β per trial; β < 0 acts as 0
    per_trial = mlcsc.layered_thresholding(model, Y, [beta, 0.1])
    np.testing.assert_allclose(per_trial[0].numpy(), _soft(Y.numpy() @ D1, beta.numpy()), atol=1e-12)
    with pytest.raises(ValueError):
        mlcsc.layered_thresholding(model, Y, [0.3])  # one β per layer


def _tiny_signals(model: mlcsc.Model, trials: int, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    top = torch.zeros(trials, 36, dtype=torch.float64)
    for t in range(trials):
        top[t, torch.randperm(36, generator=gen)[:2]] = 1 + torch.rand(2, generator=gen, dtype=torch.float64)
    g1 = top @ model.dictionaries[1].T
    return [g1, top], g1 @ model.dictionaries[0].T + 0.01 * torch.randn(trials, 12, generator=gen, dtype=torch.float64)


def test_recovery_on_grid_equals_thresholding_at_every_grid_value():
    gen = torch.Generator().manual_seed(0)
    true = (torch.rand(200, 40, generator=gen) < 0.1).double() * torch.randn(200, 40, generator=gen, dtype=torch.float64)
    u = true + 0.3 * torch.randn(200, 40, generator=gen, dtype=torch.float64)
    u[0, :4] = torch.tensor([0.25, -0.5, 0.0, 1.0], dtype=torch.float64)  # entries equal to grid values: not kept
    u[1] = 0.0  # an all-zero estimate
    grid = torch.linspace(0.0, 1.0, 41, dtype=torch.float64)
    brute = torch.stack([mlcsc.support_recovery(true, thresholds.soft(u, float(b))).mean() for b in grid])
    assert torch.allclose(mlcsc.recovery_on_grid(true, u, grid), brute, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="ascending"):
        mlcsc.recovery_on_grid(true, u, grid.flip(0))


def test_tune_thresholds_picks_the_best_grid_value_layer_by_layer():
    model = _tiny_model()
    codes, Y = _tiny_signals(model, 20, 1)
    grid = torch.linspace(0.0, 1.5, 16, dtype=torch.float64)
    betas = mlcsc.tune_thresholds(model, Y, codes, grid)
    assert len(betas) == 2 and all(isinstance(b, float) and b in grid.tolist() for b in betas)

    def score(est: np.ndarray, true: torch.Tensor) -> float:
        return float(mlcsc.support_recovery(true, torch.from_numpy(est)).mean())

    D1, D2 = (D.numpy() for D in model.dictionaries)
    first = [score(_soft(Y.numpy() @ D1, b), codes[0]) for b in grid.tolist()]
    assert betas[0] == grid.tolist()[int(np.argmax(first))]  # the best, the smallest on ties
    x1 = _soft(Y.numpy() @ D1, betas[0])
    second = [score(_soft(x1 @ D2, b), codes[1]) for b in grid.tolist()]
    assert betas[1] == grid.tolist()[int(np.argmax(second))]
    assert max(first) > first[0] and max(second) > second[0]  # thresholding beats no thresholding here


def test_layered_bp_codes_each_layer_by_a_certified_lasso_on_the_last():
    from scpaper import lasso

    model = _tiny_model()
    _, Y = _tiny_signals(model, 5, 2)
    lam1 = torch.linspace(0.02, 0.06, 5, dtype=torch.float64)
    out, certified = mlcsc.layered_bp(model, Y, [lam1, 0.05])
    assert len(out) == 2 and certified == [1.0, 1.0]
    assert out[0].shape == (5, 24) and out[1].shape == (5, 36)
    for r in range(5):
        assert lasso.kkt_residual(model.dictionaries[0], Y[r:r + 1], out[0][r:r + 1], float(lam1[r])).max() < 1e-6
    assert lasso.kkt_residual(model.dictionaries[1], out[0], out[1], 0.05).max() < 1e-6
    with pytest.raises(ValueError):
        mlcsc.layered_bp(model, Y, [0.05])


def test_layered_bp_is_lasso_layer_on_each_previous_estimate_and_passes_its_tolerance_on():
    model = _tiny_model()
    _, Y = _tiny_signals(model, 4, 3)
    out, _ = mlcsc.layered_bp(model, Y, [0.03, 0.05])
    first, _ = mlcsc.lasso_layer(model.dictionaries[0], Y, 0.03)
    second, _ = mlcsc.lasso_layer(model.dictionaries[1], first, 0.05)
    assert torch.equal(out[0], first) and torch.equal(out[1], second)
    with pytest.raises(ValueError, match="tol > 0"):
        mlcsc.layered_bp(model, Y, [0.03, 0.05], tol=0.0)


def test_model_moved_to_a_device_keeps_its_shape_and_its_codes():
    model = _tiny_model()
    moved = model.to("cpu")
    assert (moved.channels, moved.lengths, moved.n_positions, moved.depth) == ((1, 2, 3), (3, 3), 12, 2)
    assert all(torch.equal(a, b) and b.device.type == "cpu" for a, b in zip(model.dictionaries, moved.dictionaries))
    assert moved.coherences() == model.coherences() and len(moved.coherences()) == 2
    Y = torch.randn(2, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert all(torch.equal(a, b) for a, b in zip(mlcsc.layered_thresholding(model, Y, [0.2, 0.1]),
                                                 mlcsc.layered_thresholding(moved, Y, [0.2, 0.1])))


def _numpy_ista(D: np.ndarray, X: np.ndarray, lam: float, eta: float, start: np.ndarray, steps: int) -> np.ndarray:
    z = start
    for _ in range(steps):
        z = _soft(z + eta * (X - z @ D.T) @ D, lam * eta)
    return z


def test_ista_takes_the_asked_steps_from_the_asked_start():
    D = _tiny_model().dictionaries[0]
    gen = torch.Generator().manual_seed(6)
    X, start = torch.randn(3, 12, generator=gen, dtype=torch.float64), torch.randn(3, 24, generator=gen, dtype=torch.float64)
    for init, steps in ((None, 3), (start, 2)):
        out = mlcsc.ista(D, X, 0.05, steps, init=init, eta=0.1)
        z0 = np.zeros((3, 24)) if init is None else start.numpy()
        np.testing.assert_allclose(out.numpy(), _numpy_ista(D.numpy(), X.numpy(), 0.05, 0.1, z0, steps), atol=1e-12)
    assert torch.equal(mlcsc.ista(D, X, 0.05, 3), mlcsc.ista(D, X, 0.05, 3, eta=mlcsc.step_size(D)))
    for n in (0, -1):
        with pytest.raises(ValueError, match="n_iter must be at least 1"):
            mlcsc.ista(D, X, 0.05, n)


def test_ista_and_fista_approach_the_certified_lasso_fista_faster():
    from scpaper import lasso

    D = _tiny_model().dictionaries[0]
    X = torch.randn(3, 12, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    star = lasso.solve(D, X, 0.05).codes
    err = lambda c: float((c - star).norm() / star.norm())
    assert err(mlcsc.ista(D, X, 0.05, 30, fista=True)) < err(mlcsc.ista(D, X, 0.05, 30)) < err(mlcsc.ista(D, X, 0.05, 3))
    assert err(mlcsc.ista(D, X, 0.05, 3000, fista=True)) < 1e-6
    assert err(mlcsc.ista(D, X, 0.05, 3, init=star)) < 1e-9  # the LASSO solution is ISTA's fixed point


def test_step_size_is_the_inverse_squared_spectral_norm_within_its_margin():
    D = _tiny_model().dictionaries[0]
    top = float(np.linalg.norm(D.numpy(), 2)) ** 2
    assert 0.98 / top <= mlcsc.step_size(D) <= 1 / top


def _square_model() -> mlcsc.Model:
    """Two layers whose second dictionary is square (24 × 24), so that init="previous" applies to it."""
    gen = torch.Generator().manual_seed(8)
    D1 = mlcsc.conv_dictionary(mlcsc.gaussian_filters(2, 1, 3, gen), 12)
    D2 = mlcsc.conv_dictionary(mlcsc.gaussian_filters(2, 2, 3, gen), 12)
    return mlcsc.Model((D1, D2), (1, 2, 2), (3, 3), 12)


def test_layered_ista_runs_ista_per_layer_from_zero_or_from_the_previous_estimate():
    model = _square_model()
    Y = torch.randn(3, 12, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    (D1, D2), (e1, e2) = model.dictionaries, model.step_sizes
    for fista in (False, True):
        zero = mlcsc.layered_ista(model, Y, [0.05, 0.02], 4, fista=fista)
        g1 = mlcsc.ista(D1, Y, 0.05, 4, fista=fista, eta=e1)
        assert torch.equal(zero[0], g1) and torch.equal(zero[1], mlcsc.ista(D2, g1, 0.02, 4, fista=fista, eta=e2))
        warm = mlcsc.layered_ista(model, Y, [0.05, 0.02], 4, fista=fista, init="previous")
        assert torch.equal(warm[0], g1)  # Y has 12 entries, the codes 24: layer 1 starts at zero
        assert torch.equal(warm[1], mlcsc.ista(D2, g1, 0.02, 4, fista=fista, init=g1, eta=e2))
        assert not torch.allclose(warm[1], zero[1])
    assert not torch.allclose(mlcsc.layered_ista(model, Y, [0.05, 0.02], 4, fista=True)[1],
                              mlcsc.layered_ista(model, Y, [0.05, 0.02], 4)[1])
    with pytest.raises(ValueError, match="init must be 'zero' or 'previous', got 'bad'"):
        mlcsc.layered_ista(model, Y, [0.05, 0.02], 1, init="bad")
    with pytest.raises(ValueError):
        mlcsc.layered_ista(model, Y, [0.05], 1)  # one λ per layer


def test_lasso_layer_solves_each_row_at_its_own_lambda():
    from scpaper import lasso

    model = _tiny_model()
    D = model.dictionaries[0]
    Y = torch.randn(4, 12, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    codes, frac = mlcsc.lasso_layer(D, Y, 0.04)
    assert frac == 1.0 and isinstance(frac, float) and torch.equal(codes, lasso.solve(D, Y, 0.04, tol=1e-7).codes)
    assert torch.equal(mlcsc.lasso_layer(D, Y, 0.04, gram=model.grams[0])[0], codes)
    lam = torch.tensor([0.01, 0.04, 0.02, 0.08], dtype=torch.float64)
    per_row, frac = mlcsc.lasso_layer(D, Y, lam)
    assert frac == 1.0
    for r in range(4):
        assert lasso.kkt_residual(D, Y[r:r + 1], per_row[r:r + 1], float(lam[r])).max() < 1e-9
    assert torch.allclose(per_row[1], codes[1], atol=1e-12)
    for bad in (torch.tensor([0.01, 0.0, 0.02, 0.03], dtype=torch.float64), torch.full((3,), 0.01, dtype=torch.float64)):
        with pytest.raises(ValueError, match="per-row λ must be positive with shape \\(4,\\)"):
            mlcsc.lasso_layer(D, Y, bad)
    for lam_ in (0.04, lam):
        with pytest.raises(ValueError, match="tol > 0"):
            mlcsc.lasso_layer(D, Y, lam_, tol=0.0)


def test_lasso_layer_codes_float32_rows_at_their_own_lambda_in_float32():
    D = _tiny_model().dictionaries[0].float()
    Y = torch.randn(3, 12, generator=torch.Generator().manual_seed(11))
    codes, frac = mlcsc.lasso_layer(D, Y, torch.tensor([0.02, 0.05, 0.03], dtype=torch.float64))  # λ in double
    assert codes.dtype == torch.float32 and frac == 1.0
