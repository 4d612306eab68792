import itertools
import re
import time

import numpy as np
import pytest
import torch

from scpaper import lasso, sensitivity


def problem(dim: int = 30, atoms: int = 40, n: int = 6, seed: int = 0):
    """A random unit-norm dictionary and signals with a few active atoms each."""
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(dim, atoms, generator=g, dtype=torch.float64)
    D = D / D.norm(dim=0)
    codes = torch.zeros(n, atoms, dtype=torch.float64)
    codes[:, :5] = 1 + torch.rand(n, 5, generator=g, dtype=torch.float64)
    return D, codes @ D.T + 0.05 * torch.randn(n, dim, generator=g, dtype=torch.float64)


def test_jacobian_matches_finite_differences_of_the_solver():
    D, X = problem()
    v = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    error, eps = sensitivity.finite_difference(D, X[0], 0.1, v)
    assert error < 1e-8 and eps > 0


def test_finite_differences_are_formed_in_float64_from_float32_inputs():
    D, X = problem()
    v = torch.randn(30, generator=torch.Generator().manual_seed(1))
    error, eps = sensitivity.finite_difference(D.float(), X[0].float(), 0.1, v)
    assert error < 1e-8 and eps > 0


def test_exact_codes_keep_the_solvers_uniqueness_flag():
    D, X = problem()
    out = sensitivity.exact_codes(D, X, 0.1)
    assert out.unique.dtype == torch.bool and out.unique.shape == (len(X),) and out.unique.all()
    twin = torch.cat([D, D[:, :1]], 1)  # a duplicated atom: codes that use it are not unique
    dup = sensitivity.exact_codes(twin, X, 0.1)
    assert dup.certified.all() and not dup.unique.all()


def test_rip_constant_is_zero_for_orthonormal_atoms_and_at_least_one_for_a_duplicate():
    Q, _ = torch.linalg.qr(torch.randn(20, 6, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    code = torch.ones(6, dtype=torch.float64)
    assert abs(sensitivity.rip_constant(Q, code)) < 1e-12
    twin = torch.cat([Q, Q[:, :1]], 1)
    assert sensitivity.rip_constant(twin, torch.ones(7, dtype=torch.float64)) >= 1 - 1e-12
    with pytest.raises(ValueError, match="no active atom"):
        sensitivity.rip_constant(Q, torch.zeros(6, dtype=torch.float64))


def test_digit_spectra_agree_with_one_digit_svd_and_bound_the_pair_gain():
    D, X = problem()
    codes = lasso.solve(D, X, 0.1).codes
    V = {"noise": torch.randn(X.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64), "swap": X.roll(1, 0) - X}
    out = sensitivity.digit_spectra(D, codes, V, bins=8, progress=False)
    for i, code in enumerate(codes):
        spec = sensitivity.spectrum(D, code)
        assert torch.isclose(out.sigma_min[i], spec.singular[0]) and out.active[i] == len(spec.gains)
        assert abs(out.rip[i] - sensitivity.rip_constant(D, code)) < 1e-12
        power = sensitivity.overlap_spectrum(spec, V["swap"][i][None]).pow(2)[0]
        assert torch.isclose(out.in_span["swap"][i], power.sum()) and torch.isclose(out.profile["swap"][i].sum(), power.sum())
        assert torch.isclose(out.noise_gain[i], (spec.gains.pow(2).sum() / D.shape[0]).sqrt())
    assert (out.pair_gain <= 1 / out.sigma_min + 1e-12).all()  # a pair is one combination of active atoms
    assert ((out.top_share["noise"] >= 0) & (out.top_share["noise"] <= 1)).all()
    with pytest.raises(ValueError, match="multiple of 4"):
        sensitivity.digit_spectra(D, codes, V, bins=6, progress=False)


def test_code_gains_equal_the_norm_of_the_full_active_jacobian():
    D, X = problem()
    out = lasso.solve(D, X, 0.1)
    V = torch.randn(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gains = sensitivity.code_gains(D, out.codes, V, progress=False)
    expected = torch.stack([(lasso.active_jacobian(D, c) @ v).norm() / v.norm() for c, v in zip(out.codes, V)])
    assert torch.allclose(gains, expected, rtol=1e-10)


def test_gain_along_an_active_atom_is_one_and_eq5_holds_for_pairs():
    D, X = problem()
    code = lasso.solve(D, X[:1], 0.1).codes[0]
    active = code.nonzero()[:, 0]
    assert torch.allclose(sensitivity.code_gains(D, code[None], D[:, active[0]][None], progress=False), torch.ones(1, dtype=torch.float64))
    ov = sensitivity.overlaps(D, code, top=3)
    measured, predicted = sensitivity.pair_gains(D, code, ov.pairs)
    assert torch.allclose(measured, predicted, rtol=1e-10)
    assert len(ov.overlaps) == len(active) * (len(active) - 1) // 2
    assert (ov.top.diff() <= 0).all()


def test_spectrum_gains_bound_the_code_gains():
    D, X = problem()
    code = lasso.solve(D, X[:1], 0.1).codes[0]
    spec = sensitivity.spectrum(D, code)
    V = torch.randn(50, 30, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gains = sensitivity.code_gains(D, code.expand(50, -1), V, progress=False)
    assert (gains <= spec.gains[0] + 1e-12).all()
    top = spec.vectors[:, 0][None]
    assert torch.allclose(sensitivity.code_gains(D, code[None], top, progress=False), spec.gains[:1])
    power = sensitivity.overlap_spectrum(spec, V).pow(2).sum(1)
    assert (power <= 1 + 1e-12).all()


def test_hidden_gains_of_a_relu_layer_use_its_active_rows():
    g = torch.Generator().manual_seed(4)
    W, b = torch.randn(7, 5, generator=g), torch.randn(7, generator=g)
    X, V = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    eps = 1e-3
    fd = (torch.relu((X + eps * V) @ W.T + b) - torch.relu((X - eps * V) @ W.T + b)) / (2 * eps)
    assert torch.allclose(sensitivity.hidden_gains(W, b, X, V), fd.norm(dim=1) / V.norm(dim=1), rtol=1e-3)


def test_perturbations_swap_to_another_image_and_normalised_mean():
    images = torch.rand(5, 28, 28)
    p = sensitivity.perturbations(images, np.random.default_rng(0))
    assert set(p) == set(sensitivity.KINDS)
    assert (p["swap"].norm(dim=1) > 0).all()
    assert torch.allclose(sensitivity.normalised_mean(torch.tensor([[1.0, 2.0], [1.0, -1.0]])), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="two images"):
        sensitivity.perturbations(images[:1], np.random.default_rng(0))


# Closed forms on orthogonal atoms, independent references and input checks


def orthogonal_atoms(norms: list[float], dim: int) -> torch.Tensor:
    """Atoms n_j·e_j: orthogonal, with the given norms as singular values."""
    D = torch.zeros(dim, len(norms), dtype=torch.float64)
    D[range(len(norms)), range(len(norms))] = torch.tensor(norms, dtype=torch.float64)
    return D


def test_exact_codes_satisfy_the_lasso_optimality_conditions_and_time_the_solve():
    D, X = problem()
    before = time.perf_counter()
    out = sensitivity.exact_codes(D, X, 0.1)
    elapsed = time.perf_counter() - before
    assert out.certified.all() and 0 < out.seconds <= elapsed
    Dn, lam = D.numpy(), 0.1
    for x, code in zip(X.numpy(), out.codes.numpy()):  # subgradient of ½‖x − Da‖² + λ‖a‖₁ contains 0
        corr, on = Dn.T @ (x - Dn @ code), code != 0
        assert on.any() and np.allclose(corr[on], lam * np.sign(code[on]), atol=1e-9)
        assert (np.abs(corr[~on]) <= lam + 1e-9).all()


def test_progress_bars_are_labelled_shown_only_on_request_and_cleared(capsys):
    D, X = problem(n=3)
    codes = lasso.solve(D, X, 0.1).codes
    V = {"noise": torch.randn(X.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)}
    runs = {"active Jacobians": lambda **kw: sensitivity.code_gains(D, codes, V["noise"], **kw),
            "active spectra": lambda **kw: sensitivity.digit_spectra(D, codes, V, bins=4, **kw)}
    for label, call in runs.items():
        call(progress=False)
        assert capsys.readouterr().err == ""
        for kw in ({}, {"progress": True}):  # shown by default
            call(**kw)
            err = capsys.readouterr().err
            assert err.startswith(f"\r{label}: ") and "\n" not in err  # labelled; erased when done
    sensitivity.exact_codes(D, X, 0.1)
    assert "lasso" in capsys.readouterr().err  # the exact solve reports its progress


def test_code_gains_reject_each_mismatched_shape_with_one_message():
    D, _ = problem()  # D is (30, 40)
    codes, V = torch.zeros(3, 40, dtype=torch.float64), torch.ones(3, 30, dtype=torch.float64)
    for bad_codes, bad_V in ((codes[:2], V), (codes[:, :39], V), (codes, V[:, :29])):
        want = re.escape(f"need codes (N, 40) and V (N, 30), got {tuple(bad_codes.shape)}, {tuple(bad_V.shape)}")
        with pytest.raises(ValueError, match=f"^{want}$"):
            sensitivity.code_gains(D, bad_codes, bad_V, progress=False)
    assert (sensitivity.code_gains(D, codes, V, progress=False) == 0).all()  # no active atom: no response


def test_digit_spectra_of_orthogonal_atoms_have_closed_forms():
    norms = [1.0, 2.0, 0.5, 1.5, 3.0]
    D = orthogonal_atoms(norms, dim=8)
    codes = torch.zeros(2, 5, dtype=torch.float64)
    codes[0, :4] = torch.tensor([1.0, -2.0, 0.5, 3.0])  # σ = 0.5, 1, 1.5, 2 on atoms 2, 0, 3, 1
    codes[1, [1, 4]] = 1.0  # σ = 2, 3
    v = torch.arange(1.0, 9.0, dtype=torch.float64)
    V = {"swap": v.expand(2, -1).clone()}
    out = sensitivity.digit_spectra(D, codes, V, bins=4, progress=False)
    power = v.pow(2) / v.pow(2).sum()
    assert torch.allclose(out.profile["swap"][0], power[[2, 0, 3, 1]])  # one direction per bin, by decreasing gain
    assert torch.allclose(out.profile["swap"][1], power[[1, 1, 4, 4]] / 2)  # two directions over four bins
    assert torch.allclose(out.in_span["swap"], torch.stack([power[:4].sum(), power[[1, 4]].sum()]))
    assert torch.allclose(out.top_share["swap"], torch.stack([power[2] / power[:4].sum(), power[1] / 2 / power[[1, 4]].sum()]))
    assert out.active.tolist() == [4, 2]
    assert out.sigma_min.tolist() == [0.5, 2.0] and out.sigma_max.tolist() == [2.0, 3.0]
    assert torch.allclose(out.rip, torch.tensor([3.0, 8.0], dtype=torch.float64))  # max(1 − σ_min², σ_max² − 1)
    gains = [torch.tensor([0.5, 1.0, 1.5, 2.0]), torch.tensor([2.0, 3.0])]
    assert torch.allclose(out.noise_gain, torch.stack([g.double().pow(-2).sum().div(8).sqrt() for g in gains]))
    default = sensitivity.digit_spectra(D, codes, V, progress=False)
    assert default.profile["swap"].shape == (2, 20)
    assert torch.allclose(default.top_share["swap"], default.profile["swap"][:, :5].sum(1) / default.in_span["swap"])


def test_digit_spectra_pair_gain_uses_the_largest_absolute_overlap_and_skip_empty_codes():
    a = 0.225  # d₂·d₃ = 0
    D = torch.tensor([[1.0, -0.6, 0.3], [0.0, 0.8, a], [0.0, 0.0, (1 - 0.09 - a * a) ** 0.5]], dtype=torch.float64)
    codes = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]], dtype=torch.float64)
    V = {"noise": torch.ones(4, 3, dtype=torch.float64)}
    out = sensitivity.digit_spectra(D, codes, V, bins=4, progress=False)
    overlaps = [abs(float(D[:, i] @ D[:, j])) for i, j in itertools.combinations(range(3), 2)]
    assert max(overlaps) == pytest.approx(0.6)
    assert out.pair_gain[0].item() == pytest.approx(1 / np.sqrt(1 - 0.6))
    assert out.pair_gain[1].item() == pytest.approx(1 / np.sqrt(1 - 0.3))
    assert out.pair_gain[3].item() == 1.0  # a single atom has no pair
    assert torch.isnan(out.sigma_min[2]) and torch.isnan(out.profile["noise"][2]).all()  # no active atom
    assert not torch.isnan(out.sigma_min[[0, 1, 3]]).any() and out.active[3] == 1
    for i in (0, 1, 3):
        s = np.linalg.svd(D[:, codes[i] != 0].numpy(), compute_uv=False)
        assert out.sigma_max[i].item() == pytest.approx(s.max()) and out.sigma_min[i].item() == pytest.approx(s.min())
        pinv = np.linalg.pinv(D[:, codes[i] != 0].numpy())  # E‖J₊n‖² = ‖J₊‖²_F for n ~ N(0, I)
        assert out.noise_gain[i].item() == pytest.approx(np.linalg.norm(pinv) / np.sqrt(3))


def test_digit_spectra_accept_four_bins_and_reject_mismatched_shapes():
    D, X = problem(n=3)  # D is (30, 40)
    codes = lasso.solve(D, X, 0.1).codes
    V = {"noise": torch.ones(3, 30, dtype=torch.float64)}
    assert sensitivity.digit_spectra(D, codes, V, bins=4, progress=False).profile["noise"].shape == (3, 4)
    for bad_codes, bad_V in ((codes[:, :39], V), (codes, {"noise": V["noise"][:, :29]})):
        with pytest.raises(ValueError, match=r"^need codes \(3, 40\) and directions \(3, 30\) of every kind$"):
            sensitivity.digit_spectra(D, bad_codes, bad_V, bins=4, progress=False)
    for bins in (0, 2, 6):
        with pytest.raises(ValueError, match=f"got {bins}$"):
            sensitivity.digit_spectra(D, codes, V, bins=bins, progress=False)


def test_finite_difference_on_orthonormal_atoms_is_exact_and_uses_the_largest_step():
    D = torch.eye(6, dtype=torch.float64)
    x = torch.tensor([1.5, -2.5, 0.25, 3.0, -0.1, 0.75], dtype=torch.float64)  # λ = 0.5: codes 1, −2, 0, 2.5, 0, 0.25
    v = torch.randn(6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    error, eps = sensitivity.finite_difference(D, x, 0.5, v)
    assert error < 1e-12 and eps == 1e-3
    assert sensitivity.finite_difference(D, x, 0.5, v, eps=(1.0, 1e-4))[1] == 1e-4  # x ± v leaves the support
    kink = torch.tensor([0.5, 2.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # atom 0 exactly at threshold
    assert sensitivity.finite_difference(D, kink, 0.5, D[0]) == (float("inf"), 0.0)


def test_finite_difference_gap_is_relative_to_the_size_of_the_direction():
    D, X = problem()
    v = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    error, eps = sensitivity.finite_difference(D, X[0], 0.1, 1e5 * v, eps=(1e-9,))  # the same steps as 1e-4·v
    assert error < 1e-8 and eps == 1e-9


def test_finite_difference_refuses_uncertified_codes(monkeypatch):
    D, X = problem()
    solve = lasso.solve
    monkeypatch.setattr(lasso, "solve", lambda D, X, lam: solve(D, X, lam, max_iter=0))  # stops at the zero code
    with pytest.raises(ValueError, match="^the solver did not certify the codes used for the finite difference$"):
        sensitivity.finite_difference(D, X[0], 0.1, X[1])


def test_hidden_gains_give_units_at_zero_no_response_like_autograd():
    g = torch.Generator().manual_seed(8)
    W, V = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64)
    b = torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 2.0], dtype=torch.float64)
    X = torch.zeros(2, 4, dtype=torch.float64)  # three units sit exactly at ReLU's kink
    jvp = [torch.autograd.functional.jacobian(lambda x: torch.relu(W @ x + b), x) @ v for x, v in zip(X, V)]
    assert torch.allclose(sensitivity.hidden_gains(W, b, X, V), torch.stack(jvp).norm(dim=1) / V.norm(dim=1))


def test_overlap_spectrum_normalises_each_direction_on_its_own():
    D = orthogonal_atoms([1.0, 2.0, 0.5], dim=5)
    spec = sensitivity.spectrum(D, torch.ones(3, dtype=torch.float64))
    V = torch.stack([3 * spec.vectors[:, 0], 0.5 * spec.vectors[:, 2], 7 * torch.eye(5, dtype=torch.float64)[4]])
    assert torch.allclose(sensitivity.overlap_spectrum(spec, V), torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 0]], dtype=torch.float64))


def test_overlaps_list_active_atoms_by_size_and_the_largest_pairs_by_brute_force():
    D, _ = problem()
    code = torch.zeros(40, dtype=torch.float64)
    code[[3, 7, 11, 20, 25, 31, 38]] = torch.tensor([0.5, -3.0, 1.0, 2.0, -0.1, 0.7, 1.5], dtype=torch.float64)
    out = sensitivity.overlaps(D, code)
    assert out.active.tolist() == [7, 20, 38, 11, 31, 3, 25]
    pairs = sorted(itertools.combinations(out.active.tolist(), 2), key=lambda p: -float(D[:, p[0]] @ D[:, p[1]]))
    assert out.pairs.shape == (10, 2) and len(out.overlaps) == 21  # default: the top 10 of the 21 pairs
    assert [set(p) for p in out.pairs.tolist()] == [set(p) for p in pairs[:10]]
    assert torch.allclose(out.top, (D[:, out.pairs[:, 0]] * D[:, out.pairs[:, 1]]).sum(0))


def test_rip_constant_of_orthogonal_atoms_is_set_by_the_extreme_norms():
    code = torch.ones(3, dtype=torch.float64)
    assert sensitivity.rip_constant(orthogonal_atoms([1.0, 0.8, 0.5], 4), code) == pytest.approx(0.75)  # 1 − 0.5²
    assert sensitivity.rip_constant(orthogonal_atoms([1.2, 1.0, 0.9], 4), code) == pytest.approx(0.44)  # 1.2² − 1
    with pytest.raises(ValueError, match="^the code has no active atom$"):
        sensitivity.rip_constant(orthogonal_atoms([1.0], 2), torch.zeros(1, dtype=torch.float64))


def test_spectrum_of_one_atom_is_its_direction_and_an_empty_code_is_refused():
    D = orthogonal_atoms([1.0, 2.0], dim=3)
    spec = sensitivity.spectrum(D, torch.tensor([0.0, -1.0], dtype=torch.float64))
    assert torch.allclose(spec.vectors.abs(), torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64))
    assert torch.allclose(spec.gains, torch.tensor([0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="^the code has no active atom$"):
        sensitivity.spectrum(D, torch.zeros(2, dtype=torch.float64))


def blobs(n: int, size: int = 12) -> torch.Tensor:
    """Distinct digit-like images: Gaussian blobs at different places, zero near the frame like MNIST digits."""
    r = torch.arange(size, dtype=torch.float64)
    centres = [(3 + 0.5 * (i % 10), 4 + 0.7 * (i // 10)) for i in range(n)]
    return torch.stack([torch.exp(-((r[:, None] - a) ** 2 + (r[None, :] - b) ** 2) / 2) for a, b in centres]).float()


def test_perturbations_pair_each_image_with_an_independent_other_one():
    images = blobs(40)
    flat = images.reshape(40, -1)
    p = sensitivity.perturbations(images, np.random.default_rng(1))
    partner = [int((flat[i] + s - flat).norm(dim=1).argmin()) for i, s in enumerate(p["swap"])]
    assert all(torch.allclose(flat[j], flat[i] + p["swap"][i], atol=1e-6) for i, j in enumerate(partner))
    assert all(j != i for i, j in enumerate(partner))
    assert len({(j - i) % 40 for i, j in enumerate(partner)}) > 1  # not one shift for all
    for seed in range(20):  # self-pairs would show as zero swaps among few images
        assert (sensitivity.perturbations(images[:3], np.random.default_rng(seed))["swap"].norm(dim=1) > 0).all()
    assert (sensitivity.perturbations(images[:2], np.random.default_rng(0))["swap"] == (flat[[1, 0]] - flat[:2])).all()
    with pytest.raises(ValueError, match="^swaps need at least two images$"):
        sensitivity.perturbations(images[:1], np.random.default_rng(0))


def test_perturbations_noise_is_standard_normal_in_the_images_dtype_and_warps_are_small():
    images = blobs(30)
    p = sensitivity.perturbations(images, np.random.default_rng(2))
    assert all(d.shape == (30, 144) and d.dtype == torch.float32 for d in p.values())
    n = p["noise"].numel()  # five standard errors of the mean and of the deviation
    assert abs(p["noise"].mean()) < 5 / n**0.5 and abs(p["noise"].std() - 1) < 5 / (2 * n) ** 0.5
    assert (p["distortion"].norm(dim=1) < images.reshape(30, -1).norm(dim=1)).all()  # a warp by σ = 1/4 pixel
    again = sensitivity.perturbations(images.double(), np.random.default_rng(2))
    assert all(d.dtype == torch.float64 for d in again.values())
    assert torch.allclose(again["noise"].float(), p["noise"])  # the same draws under the same seed


@pytest.fixture
def numbered_mnist(monkeypatch):
    """MNIST-sized stand-ins whose pixels and labels number the images: train i ↦ i, test i ↦ 10⁶ + i."""
    sizes = {"train": (60_000, 0), "test": (10_000, 1_000_000)}

    def fake(split: str = "train", index: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        n, first = sizes[split]
        numbers = torch.arange(first, first + n)[index if index is not None else slice(None)]
        return numbers[:, None, None].float().expand(len(numbers), 2, 2), numbers

    monkeypatch.setattr(sensitivity.data, "load_mnist", fake)
    monkeypatch.setattr(sensitivity.data, "mnist_size", lambda split="train": sizes[split][0])


def numbers(split: sensitivity.Split) -> list[int]:
    assert (split.images == split.images[:, :1, :1]).all()  # every pixel carries its image's number
    assert split.images[:, 0, 0].long().tolist() == split.labels.tolist()
    return split.labels.tolist()


def test_mnist_splits_take_the_documented_disjoint_ranges(numbered_mnist):
    splits = sensitivity.mnist_splits(5, 3, 4)
    assert list(splits) == ["pool", "val", "test"]
    assert numbers(splits["pool"]) == [0, 1, 2, 3, 4]
    assert numbers(splits["val"]) == [50_000, 50_001, 50_002]
    assert numbers(splits["test"]) == [1_000_000, 1_000_001, 1_000_002, 1_000_003]
    assert numbers(sensitivity.mnist_training(3)) == [0, 1, 2]
    assert splits["val"].flat.shape == (3, 4)


def test_mnist_splits_accept_the_largest_sizes_and_reject_larger_ones(numbered_mnist):
    full = sensitivity.mnist_splits(50_000, 10_000, 10_000)
    assert [len(s.labels) for s in full.values()] == [50_000, 10_000, 10_000]
    assert full["pool"].labels.max() < full["val"].labels.min()  # the pool never reaches validation digits
    for sizes in ((50_001, 1, 1), (1, 10_001, 1), (1, 1, 10_001)):
        with pytest.raises(ValueError, match="^need pool ≤ 50000, val ≤ 10000, test ≤ 10000$"):
            sensitivity.mnist_splits(*sizes)


def test_mnist_validation_is_the_val_split_as_rows_and_checks_its_size(numbered_mnist):
    images, labels = sensitivity.mnist_validation(3)
    assert images.shape == (3, 4) and labels.tolist() == [50_000, 50_001, 50_002]
    assert torch.equal(images, sensitivity.mnist_splits(0, 3, 0)["val"].flat)
    assert sensitivity.mnist_validation(1)[1].tolist() == [50_000]
    assert sensitivity.mnist_validation(10_000)[1][-1] == 59_999
    for n in (0, 10_001):
        with pytest.raises(ValueError, match=f"^need 1 ≤ n ≤ 10000, got {n}$"):
            sensitivity.mnist_validation(n)


def test_mnist_splits_of_the_real_files_are_digits_in_the_unit_range():
    splits = sensitivity.mnist_splits(4, 4, 4)
    for s in splits.values():
        assert s.images.shape == (4, 28, 28) and s.images.dtype == torch.float32 and s.labels.dtype == torch.int64
        assert 0 <= s.images.min() and s.images.max() <= 1 and ((0 <= s.labels) & (s.labels <= 9)).all()
    assert not any(torch.equal(a, b) for a in splits["pool"].images for b in splits["val"].images)
    images, labels = sensitivity.mnist_validation(4)
    assert torch.equal(images, splits["val"].flat) and torch.equal(labels, splits["val"].labels)

