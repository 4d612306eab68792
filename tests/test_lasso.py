"""The lasso solver against closed forms, sklearn, scipy, its own certificate and finite differences."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from sklearn.decomposition import sparse_encode
from sklearn.linear_model import Lasso
from tqdm import tqdm

from scpaper import lasso, thresholds


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_dictionary(dim: int, n: int, seed: int) -> torch.Tensor:
    D = torch.randn(dim, n, generator=_gen(seed), dtype=torch.float64)
    return D / D.norm(dim=0)


def _coherent_dictionary(dim: int, n: int, seed: int, spread: float = 0.25) -> torch.Tensor:
    """Unit atoms scattered around one direction: mutual coherence about 0.95."""
    D = torch.randn(dim, 1, generator=_gen(seed), dtype=torch.float64) + spread * torch.randn(dim, n, generator=_gen(seed + 1), dtype=torch.float64)
    return D / D.norm(dim=0)


def _objective(D: np.ndarray, x: np.ndarray, a: np.ndarray, lam: float) -> float:
    return 0.5 * np.sum((x - D @ a) ** 2) + lam * np.abs(a).sum()


def _scipy_lasso(D: np.ndarray, x: np.ndarray, lam: float, nonneg: bool) -> np.ndarray:
    """L-BFGS-B on the smooth bound-constrained form: a ≥ 0, or a = p − q with p, q ≥ 0."""
    B = D if nonneg else np.hstack([D, -D])

    def f(z):
        r = B @ z - x
        return 0.5 * r @ r + lam * z.sum(), B.T @ r + lam

    z = minimize(f, np.zeros(B.shape[1]), jac=True, method="L-BFGS-B", bounds=[(0, None)] * B.shape[1],
                 options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 50_000, "maxcor": 50}).x
    return z if nonneg else z[: D.shape[1]] - z[D.shape[1]:]


def test_coherent_fixture_is_coherent():
    G = _coherent_dictionary(20, 40, 0).T @ _coherent_dictionary(20, 40, 0)
    assert (G - torch.eye(40)).abs().max() > 0.95


@pytest.mark.parametrize("nonneg", [False, True])
def test_orthonormal_dictionary_gives_the_thresholds(nonneg):
    Q = torch.linalg.qr(torch.randn(12, 12, generator=_gen(0), dtype=torch.float64))[0]
    X = 2 * torch.randn(9, 12, generator=_gen(1), dtype=torch.float64)
    lam = torch.linspace(0.0, 2.0, 12, dtype=torch.float64)
    res = lasso.solve(Q, X, lam, nonneg=nonneg)
    shrink = thresholds.soft_nonneg if nonneg else thresholds.soft
    assert torch.allclose(res.codes, shrink(X @ Q, lam), atol=1e-12)
    assert res.certified.all() and res.unique.all()


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("lam", [0.02, 0.3, 2.0])
def test_agrees_with_sklearn_lasso_on_random_dictionary(nonneg, lam):
    D = _random_dictionary(30, 60, 2)
    X = torch.randn(8, 30, generator=_gen(3), dtype=torch.float64)
    res = lasso.solve(D, X, lam, nonneg=nonneg)
    ref = np.stack([Lasso(alpha=lam / 30, fit_intercept=False, positive=nonneg, tol=1e-14, max_iter=200_000)
                    .fit(D.numpy(), x).coef_ for x in X.numpy()])  # sklearn divides the squared error by dim
    assert np.abs(res.codes.numpy() - ref).max() < 1e-7
    assert res.certified.all() and res.kkt.max() < 1e-12


@pytest.mark.parametrize("nonneg", [False, True])
def test_agrees_with_sklearn_sparse_encode_and_scipy_on_coherent_dictionary(nonneg):
    D = _coherent_dictionary(20, 40, 4)
    X = torch.randn(6, 20, generator=_gen(5), dtype=torch.float64) + 2 * D[:, :6].T
    lam = 0.05
    res = lasso.solve(D, X, lam, nonneg=nonneg)
    assert res.certified.all() and res.unique.all()
    sk = sparse_encode(X.numpy(), D.T.numpy(), algorithm="lasso_cd", alpha=lam, positive=nonneg, max_iter=100_000)
    for x, a, b in zip(X.numpy(), res.codes.numpy(), sk):
        sp = _scipy_lasso(D.numpy(), x, lam, nonneg)
        best = min(_objective(D.numpy(), x, b, lam), _objective(D.numpy(), x, sp, lam))
        assert _objective(D.numpy(), x, a, lam) <= best + 1e-10
        assert np.abs(a - sp).max() < 1e-3 and np.abs(a - b).max() < 1e-3
    assert lasso.certify(D, X, torch.from_numpy(sk), lam, nonneg=nonneg).certified.all()  # an outside solver's codes pass


@pytest.mark.parametrize("nonneg", [False, True])
def test_large_lambda_gives_zero_codes(nonneg):
    D = _random_dictionary(10, 25, 6)
    X = torch.randn(5, 10, generator=_gen(7), dtype=torch.float64)
    corr = X @ D
    lam_max = (corr.clamp(min=0) if nonneg else corr.abs()).max().item()
    assert (lasso.solve(D, X, lam_max, nonneg=nonneg).codes == 0).all()
    assert (lasso.solve(D, X, 0.999 * lam_max, nonneg=nonneg).codes != 0).any()


@pytest.mark.parametrize("nonneg", [False, True])
def test_gradient_is_the_active_jacobian(nonneg):
    D = _coherent_dictionary(15, 30, 8)
    x = torch.randn(15, generator=_gen(9), dtype=torch.float64) + 3 * D[:, 0]
    lam = 0.1
    code = lasso.solve(D, x[None], lam, nonneg=nonneg).codes[0]
    assert (code != 0).sum() >= 2
    J = lasso.active_jacobian(D, code)
    eps = 1e-6
    for v in torch.randn(3, 15, generator=_gen(10), dtype=torch.float64):
        up, down = lasso.solve(D, torch.stack([x + eps * v, x - eps * v]), lam, nonneg=nonneg).codes
        assert torch.allclose((up - down) / (2 * eps), J @ v, atol=1e-6)
    assert (J[code == 0] == 0).all()


def test_active_jacobian_refuses_a_rank_deficient_support():
    D = _random_dictionary(5, 4, 11)
    D = torch.cat([D, D[:, :1]], dim=1)
    with pytest.raises(ValueError, match=r"^the active dictionary D₊ is rank-deficient"):
        lasso.active_jacobian(D, torch.tensor([1.0, 0, 0, 0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("nonneg", [False, True])
def test_duplicate_and_antipodal_atoms_are_flagged_not_unique(nonneg):
    base = _random_dictionary(8, 10, 12)
    D = torch.cat([base, base[:, :1], -base[:, 1:2]], dim=1)  # atom 10 duplicates 0, atom 11 is antipodal to 1
    X = torch.stack([3 * base[:, 0] + 0.1 * base[:, 2], -3 * base[:, 1] + 0.1 * base[:, 3], 3 * base[:, 4]])
    res = lasso.solve(D, X, 0.2, nonneg=nonneg)
    assert res.certified.all()
    uses = [0, 11 if nonneg else 1, 4]  # with a ≥ 0, -3·d₁ can only come from the antipodal atom
    assert [(res.codes[i, j] != 0).item() or (res.codes[i, 10 if j == 0 else 1] != 0).item() for i, j in enumerate(uses)] == [True] * 3
    assert res.unique.tolist() == [False, nonneg, True]  # antipodal pairs only tie when signs are free
    both = res.codes.clone()
    both[0, 10] = both[0, 0] = both[0].max() / 2  # a warm start on a rank-deficient support
    again = lasso.solve(D, X, 0.2, nonneg=nonneg, init=both)
    assert again.certified.all() and torch.allclose(D @ again.codes.T, D @ res.codes.T, atol=1e-10)


def test_rank_deficient_regime_swaps_atoms_and_still_certifies():
    D = _random_dictionary(6, 20, 13)
    X = torch.randn(10, 6, generator=_gen(14), dtype=torch.float64)
    res = lasso.solve(D, X, 1e-3)
    assert res.certified.all()
    assert ((res.codes != 0).sum(1) <= 6).all()
    for x, a in zip(X.numpy(), res.codes.numpy()):
        sp = _scipy_lasso(D.numpy(), x, 1e-3, False)
        assert _objective(D.numpy(), x, a, 1e-3) <= _objective(D.numpy(), x, sp, 1e-3) + 1e-10


def test_certificate_rejects_perturbed_codes_and_kkt_measures_them():
    D = _coherent_dictionary(20, 40, 15)
    X = torch.randn(4, 20, generator=_gen(16), dtype=torch.float64)
    res = lasso.solve(D, X, 0.1, nonneg=True)
    bumped = res.codes.clone()
    bumped[0, bumped[0].argmax()] *= 1.01
    bumped[1, (bumped[1] == 0).nonzero()[0, 0]] = 1e-3
    bumped[2, bumped[2].argmax()] *= -1
    cert = lasso.certify(D, X, bumped, 0.1, nonneg=True)
    assert cert.certified.tolist() == [False, False, False, True]
    kkt = lasso.kkt_residual(D, X, bumped, 0.1, nonneg=True)
    assert torch.equal(kkt, cert.kkt) and (kkt[:2] > 1e-5).all() and kkt[2] == float("inf") and kkt[3] < 1e-12


def test_warm_start_per_sample():
    D = _coherent_dictionary(20, 40, 17)
    X = torch.randn(6, 20, generator=_gen(18), dtype=torch.float64)
    cold = lasso.solve(D, X, 0.1)
    again = lasso.solve(D, X, 0.1, init=cold.codes)
    assert torch.allclose(again.codes, cold.codes, atol=1e-12) and (again.iterations <= 2).all()
    from_other_lambda = lasso.solve(D, X, 0.1, init=lasso.solve(D, X, 0.3).codes)
    assert torch.allclose(from_other_lambda.codes, cold.codes, atol=1e-10) and from_other_lambda.certified.all()


@pytest.mark.parametrize("nonneg", [False, True])
def test_presolve_starts_the_exact_solver_nearer(nonneg):
    """FISTA steps before the active-set method: the same exact codes, fewer active-set steps on dense supports."""
    D = _random_dictionary(60, 120, 24)  # supports of ~50 atoms in 60 dimensions
    X = torch.randn(40, 60, generator=_gen(25), dtype=torch.float64)
    cold = lasso.solve(D, X, 0.1, nonneg=nonneg)
    warm = lasso.solve(D, X, 0.1, nonneg=nonneg, presolve=200)
    assert warm.certified.all() and torch.equal(warm.unique, cold.unique)
    assert torch.allclose(warm.codes, cold.codes, atol=1e-10)
    assert warm.iterations.sum() < cold.iterations.sum() / 2
    float32 = lasso.solve(D.float(), X.float(), 0.1, nonneg=nonneg, presolve=200)  # FISTA in float32, polish in float64
    assert float32.certified.all() and torch.allclose(float32.codes.double(), cold.codes, atol=1e-5)


def test_float32_batch_of_one_and_fista():
    D = _coherent_dictionary(20, 40, 19)
    X = torch.randn(5, 20, generator=_gen(20), dtype=torch.float64)
    exact = lasso.solve(D, X, 0.2, nonneg=True)
    single = lasso.solve(D.float(), X[:1].float(), 0.2, nonneg=True)
    assert single.codes.dtype == torch.float32 and single.certified.all()
    assert torch.allclose(single.codes.double(), exact.codes[:1], atol=1e-5)
    fista = lasso.solve(D, X, 0.2, nonneg=True, exact=False, tol=1e-9, max_iter=100_000)
    assert (fista.kkt < 1e-9).all() and torch.allclose(fista.codes, exact.codes, atol=1e-6)
    short = lasso.solve(D, X, 0.2, nonneg=True, exact=False, max_iter=10)
    assert (short.iterations == 10).all() and not short.certified.all()


def test_chunks_and_memory_splits_give_the_same_codes(monkeypatch):
    D = _coherent_dictionary(20, 40, 21)
    X = torch.randn(23, 20, generator=_gen(22), dtype=torch.float64)
    whole = lasso.solve(D, X, 0.05)
    monkeypatch.setattr(lasso, "CHUNK", 5)
    monkeypatch.setattr(lasso, "MEMORY", 8 * 4 * 16 * 3)  # blocks of at most 3 rows of width 4
    split = lasso.solve(D, X, 0.05, progress=True)
    assert torch.allclose(split.codes, whole.codes, atol=1e-12) and split.certified.all()


def test_gpu_code_paths_run_on_cpu():
    """GPUs use dense Gram products and screen violators in float64: both checked here on the CPU."""
    G = lasso.gram(_random_dictionary(6, 9, 23))
    idx = torch.tensor([[3, 0, 9], [9, 9, 9], [8, 1, 2]])
    coef = torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.25, 3.0]], dtype=torch.float64)
    assert torch.allclose(lasso._sparse_times_gram(idx, coef, G), lasso._dense_times_gram(idx, coef, G), atol=1e-14)
    D = _coherent_dictionary(20, 40, 27)
    X = torch.randn(7, 20, generator=_gen(28), dtype=torch.float64)
    G, c, lam_p = lasso._setup(D, X, 0.05)
    float64_screen = lasso._Problem(G, G, lam_p, False, torch.finfo(torch.float64).eps / 2)
    codes = lasso._exact(float64_screen, c, torch.zeros(7, 40, dtype=torch.float64), 1000, tqdm(disable=True))[0]
    assert torch.allclose(codes, lasso.solve(D, X, 0.05).codes, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    D = _coherent_dictionary(20, 40, 24)
    X = torch.randn(50, 20, generator=_gen(25), dtype=torch.float64)
    cpu = lasso.solve(D, X, 0.1, nonneg=True)
    gpu = lasso.solve(D.cuda(), X.cuda(), 0.1, nonneg=True)
    assert gpu.certified.all() and torch.allclose(gpu.codes.cpu(), cpu.codes, atol=1e-10)


def test_bad_inputs_are_one_line_errors():
    D = _random_dictionary(4, 6, 26)
    X = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(26))
    X_inf = X.clone()
    X_inf[1, 2] = float("inf")  # not a mask of random entries, which may all fall below its threshold
    cases = [
        ((D, X, -1.0), r"^lam must be non-negative, got min -1$"),
        ((D, X, torch.ones(5)), r"^lam must be a float or have one entry per atom \(6\), got shape \(5,\)$"),
        ((D, torch.randn(3, 5), 0.1), r"^shape mismatch: X has dim 5 but D has dim 4$"),
        ((D, X[:0], 0.1), r"^empty batch: X has no rows$"),
        ((D.masked_fill(D > 0.5, float("nan")), X, 0.1), r"^D contains NaN or inf$"),
        ((D, X_inf, 0.1), r"^X contains NaN or inf$"),
        ((torch.cat([D, torch.zeros(4, 1)], 1), X, 0.1), r"^atom 6 of D has zero norm$"),
        ((D, X[0], 0.1), r"^D must be \(dim, n_atoms\) and X \(batch, dim\), got shapes \(4, 6\) and \(4,\)$"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            lasso.solve(*args)
    with pytest.raises(ValueError, match=r"^init must have shape \(3, 6\), got \(3, 5\)$"):
        lasso.solve(D, X, 0.1, init=torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"^init must be non-negative when nonneg=True$"):
        lasso.solve(D, X, 0.1, nonneg=True, init=-torch.ones(3, 6))
    with pytest.raises(ValueError, match=r"^codes must have shape \(3, 6\), got \(6,\)$"):
        lasso.kkt_residual(D, X, torch.zeros(6), 0.1)
    with pytest.raises(ValueError, match=r"^max_iter and presolve must be >= 0 and tol > 0, got 100, -1 and 1e-05$"):
        lasso.solve(D, X, 0.1, presolve=-1, max_iter=100)
    with pytest.raises(ValueError, match=r"^presolve starts the exact solver; with exact=False raise max_iter instead$"):
        lasso.solve(D, X, 0.1, presolve=10, exact=False)


@pytest.mark.parametrize("nonneg", [False, True])
def test_certificate_of_the_zero_code_switches_at_lambda_max(nonneg):
    """The zero code is optimal iff λ ≥ λ_max = max|Dᵀx| (max (Dᵀx)₊ when a ≥ 0), computed here in NumPy."""
    D = _random_dictionary(10, 25, 30)
    X = torch.randn(4, 10, generator=_gen(31), dtype=torch.float64)
    corr = X.numpy() @ D.numpy()
    lam_max = (np.maximum(corr, 0) if nonneg else np.abs(corr)).max(1)
    zero = torch.zeros(4, 25, dtype=torch.float64)
    for lam, expected in ((1.001, True), (0.999, False)):
        for i in range(4):
            cert = lasso.certify(D, X[i:i + 1], zero[:1], lam * lam_max[i], nonneg=nonneg)
            assert cert.certified.item() is expected and cert.unique.item() is expected
            kkt = lasso.kkt_residual(D, X[i:i + 1], zero[:1], lam * lam_max[i], nonneg=nonneg).item()
            assert kkt == pytest.approx(max(0.0, (1 - lam) * lam_max[i]), abs=1e-12)


def test_nonneg_certificate_rejects_signed_codes_and_accepts_zero_for_anticorrelated_inputs():
    D = _random_dictionary(12, 20, 32)
    X = torch.randn(5, 12, generator=_gen(33), dtype=torch.float64)
    signed = lasso.solve(D, X, 0.1)
    assert signed.certified.all() and (signed.codes < 0).any(1).all()
    cert = lasso.certify(D, X, signed.codes, 0.1, nonneg=True)
    assert not cert.certified.any() and not cert.unique.any() and torch.isinf(cert.kkt).all()
    x = -torch.linalg.pinv(D.T) @ torch.ones(20, dtype=torch.float64)  # Dᵀx = −1 for every atom
    zero = torch.zeros(1, 20, dtype=torch.float64)
    assert lasso.certify(D, x[None], zero, 0.0, nonneg=True).certified.item()
    assert not lasso.certify(D, x[None], zero, 0.0).certified.item()  # with free signs every atom violates


def test_certificate_checks_every_part_of_eq_9_against_a_hand_built_code():
    """Two orthonormal atoms: the lasso code is the soft threshold; each broken condition is caught alone."""
    D = torch.eye(3, dtype=torch.float64)[:, :2]
    x = torch.tensor([[2.0, -0.5, 1.0]], dtype=torch.float64)
    good = torch.tensor([[1.5, 0.0]], dtype=torch.float64)  # λ = 0.5: a₁ = 2 − 0.5, a₂ at its threshold
    assert lasso.certify(D, x, good, 0.5).certified.item()
    assert lasso.certify(D, x, good, 0.5).unique.item()  # a₂ at its threshold, but D_E has full rank
    assert not lasso.certify(D, x, good, 0.4).certified.item()  # inactive atom: |−0.5| > 0.4
    assert not lasso.certify(D, x, torch.tensor([[1.5 * (1 + 2e-4), 0.0]], dtype=torch.float64), 0.5).certified.item()
    assert lasso.certify(D, x, torch.tensor([[1.5 * (1 + 5e-5), 0.0]], dtype=torch.float64), 0.5).certified.item()
    assert not lasso.certify(D, x, torch.tensor([[1.5, -1e-3]], dtype=torch.float64), 0.5).certified.item()
    per_atom = torch.tensor([0.5, 0.6], dtype=torch.float64)
    assert lasso.certify(D, x, good, per_atom).unique.item()  # a₂ strictly inside its threshold: unique


def test_power_lipschitz_is_one_percent_above_the_squared_spectral_norm():
    D = _coherent_dictionary(20, 40, 34)
    L = lasso.power_lipschitz(D)
    assert L == pytest.approx(1.01 * torch.linalg.matrix_norm(D, 2).item() ** 2, rel=1e-9)
    assert lasso.power_lipschitz(D.float()) == pytest.approx(L, rel=1e-6)  # float64 arithmetic on the rounded atoms
    torch.manual_seed(7)
    expected_draw = torch.rand(1)
    torch.manual_seed(7)
    assert lasso.power_lipschitz(D) == L  # the same start every call
    assert torch.equal(torch.rand(1), expected_draw)  # and the global generator is left alone
    balanced = torch.tensor([[1.0, -1.0], [1.0, -1.0]], dtype=torch.float64)  # rows sum to zero: all ones is in its null space
    assert lasso.power_lipschitz(balanced) == pytest.approx(1.01 * 4.0, rel=1e-9)
    signed = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [-1.0, 0.0, 1.0]], dtype=torch.float64)
    assert lasso.power_lipschitz(signed) == pytest.approx(1.01 * torch.linalg.matrix_norm(signed, 2).item() ** 2, rel=1e-9)


def test_more_one_line_errors_and_float32_codes_are_certified_in_float64():
    D = _random_dictionary(4, 6, 35)
    X = torch.randn(3, 4, generator=_gen(36), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^D must be a float tensor, got torch.int64$"):
        lasso.solve(torch.ones(4, 6, dtype=torch.long), X, 0.1)
    with pytest.raises(ValueError, match=r"^X must be a float tensor, got torch.int32$"):
        lasso.certify(D, torch.ones(3, 4, dtype=torch.int32), torch.zeros(3, 6), 0.1)
    with pytest.raises(ValueError, match=r"^D has no atoms$"):
        lasso.solve(D[:, :0], X, 0.1)
    with pytest.raises(ValueError, match=r"^codes contains NaN or inf$"):
        lasso.certify(D, X, torch.full((3, 6), float("nan")), 0.1)
    with pytest.raises(ValueError, match=r"^max_iter and presolve must be >= 0 and tol > 0, got 10, 0 and 0$"):
        lasso.solve(D, X, 0.1, tol=0, max_iter=10)
    with pytest.raises(ValueError, match=r"^max_iter and presolve must be >= 0 and tol > 0, got -1, 0 and 1e-05$"):
        lasso.solve(D, X, 0.1, max_iter=-1)
    with pytest.raises(ValueError, match=r"^code must have shape \(6,\) for D of shape \(4, 6\), got \(5,\)$"):
        lasso.active_jacobian(D, torch.zeros(5, dtype=torch.float64))
    res = lasso.solve(D, X, 0.05)
    single = lasso.certify(D.float(), X.float(), res.codes.float(), 0.05)
    assert single.kkt.dtype == torch.float64 and (single.kkt < 1e-6).all()


@pytest.mark.parametrize("nonneg", [False, True])
def test_kkt_residual_against_numpy_with_per_atom_lambda(nonneg):
    """Max violation of the lasso's optimality conditions, written out in NumPy for arbitrary codes."""
    D = _random_dictionary(8, 12, 37).numpy()
    X = np.random.default_rng(38).normal(size=(6, 8))
    lam = np.linspace(0.05, 0.6, 12)
    A = np.random.default_rng(39).normal(size=(6, 12)) * (np.random.default_rng(40).random((6, 12)) < 0.3)
    if nonneg:
        A = np.abs(A)
        A[5, 0] = -0.1  # one infeasible code
    G = (X - A @ D.T) @ D
    active = A != 0
    inactive = np.maximum((G if nonneg else np.abs(G)) - lam, 0)
    over = np.where(active, np.abs(G - lam * np.sign(A)), inactive)
    expected = over.max(1)
    if nonneg:
        expected[5] = np.inf
    args = (torch.from_numpy(D), torch.from_numpy(X), torch.from_numpy(A), torch.from_numpy(lam))
    got = lasso.kkt_residual(*args, nonneg=nonneg)
    assert np.allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    assert np.allclose(lasso.certify(*args, nonneg=nonneg).kkt.numpy(), expected, rtol=0, atol=1e-12)
    signed = lasso.solve(torch.from_numpy(D), torch.from_numpy(X), 0.05)
    assert (signed.codes < 0).any() and (lasso.kkt_residual(torch.from_numpy(D), torch.from_numpy(X), signed.codes, 0.05) < 1e-12).all()


def test_certificate_tolerances_are_strict_and_relative_per_sample():
    """eq 9's bounds are strict (< 1e-5, < 1e-4), the active error is relative to each sample's own code,
    a code entry of exactly 1 counts as active, and an inactive atom exactly 1e-5 inside λ leaves the code unique."""
    I2 = torch.eye(2, dtype=torch.float64)
    at_tol = lasso.certify(I2, torch.tensor([[1.5, 1e-5]], dtype=torch.float64), torch.tensor([[1.5, 0.0]], dtype=torch.float64), 0.0)
    assert not at_tol.certified.item()  # inactive violation of exactly 1e-5 is not below 1e-5
    X = torch.tensor([[1000.0, 0.0], [1.5, 0.0]], dtype=torch.float64)
    codes = torch.tensor([[1000.0, 0.0], [1.5 * (1 + 2e-4), 0.0]], dtype=torch.float64)
    assert lasso.certify(I2, X, codes, 0.0).certified.tolist() == [True, False]
    one = lasso.certify(I2, torch.tensor([[1.5, 0.2]], dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64), 0.5)
    assert one.certified.item() and one.kkt.item() < 1e-12
    D = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]], dtype=torch.float64)  # atoms e₁, e₂, −e₂
    x = torch.tensor([[1.0 + 1e-5, 0.0]], dtype=torch.float64)
    cert = lasso.certify(D, x, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64), 1e-5)
    assert cert.certified.item() and cert.unique.item()  # e₂ and −e₂ sit 1e-5 below λ: not at the threshold


def test_inputs_on_two_devices_are_refused():
    D = _random_dictionary(4, 6, 41)
    with pytest.raises(ValueError, match=r"^D is on cpu but X on meta$"):
        lasso.solve(D, torch.empty(3, 4, dtype=torch.float64, device="meta"), 0.1)


@pytest.mark.parametrize("exact", [True, False])
def test_a_reused_gram_gives_the_same_codes_and_a_foreign_one_is_refused(exact):
    D = _coherent_dictionary(10, 16, 31)
    X = torch.randn(7, 10, generator=_gen(32), dtype=torch.float64)
    fresh = lasso.solve(D, X, 0.05, exact=exact, tol=1e-9)
    reused = lasso.solve(D, X, 0.05, exact=exact, tol=1e-9, gram=lasso.gram(D))
    assert torch.equal(fresh.codes, reused.codes) and reused.certified.all()
    assert torch.equal(lasso.gram(D)[:-1, :-1], D.T @ D) and not lasso.gram(D)[-1].any()
    with pytest.raises(ValueError, match="gram must be lasso.gram"):
        lasso.solve(D, X, 0.05, gram=lasso.gram(D[:, :15]))
    with pytest.raises(ValueError, match="gram must be lasso.gram"):
        lasso.solve(D, X, 0.05, gram=lasso.gram(D).float())
