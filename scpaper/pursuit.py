"""Single-layer sparse recovery: classic dictionaries, exact basis pursuit (an ℓ1 linear programme, LARS) and
batched recovery decisions by certificates, batched OMP, the Donoho–Elad and Welch bounds, and recovery-rate
sweeps over ‖x‖₀."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import torch
from scipy.fft import dct
from scipy.optimize import linprog
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path
from tqdm.auto import tqdm

from scpaper import coherence
from scpaper.data.natural_images import load_natural_images
from scpaper.whitening import sample_patches, whiten


def gaussian_dictionary(n: int, m: int, seed: int = 0) -> torch.Tensor:
    """n × m dictionary with i.i.d. Gaussian entries and unit-norm columns."""
    D = torch.randn(n, m, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return D / D.norm(dim=0)


def dct_identity(n: int) -> torch.Tensor:
    """[I, C] with C the orthonormal DCT-II basis of length n: μ = max |Cᵢⱼ| ≤ √(2/n)."""
    C = torch.as_tensor(dct(np.eye(n), norm="ortho", axis=0).T)
    return torch.cat([torch.eye(n, dtype=torch.float64), C], dim=1)


def learned_dictionary(patch: int, m: int, n_patches: int, seed: int = 0) -> torch.Tensor:
    """patch² × m dictionary learned by sklearn's MiniBatchDictionaryLearning on whitened natural-image patches.

    Each minibatch is coded by coordinate descent (6× faster than LARS at 3 000 patches, the same μ to 1e-3);
    its inner solves stop short of sklearn's tight tolerance, so those ConvergenceWarnings are silenced: the
    dictionary serves as a test case whose coherence is measured, not as an optimum.
    """
    rng = np.random.default_rng(seed)
    images = [whiten(im) for im in load_natural_images("skimage")]
    X = sample_patches(images, patch, n_patches, rng)
    X = X - X.mean(1, keepdims=True)
    learner = MiniBatchDictionaryLearning(n_components=m, alpha=0.1, batch_size=256, max_iter=5, random_state=seed,
                                          fit_algorithm="cd")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        D = torch.as_tensor(learner.fit(X).components_.T, dtype=torch.float64)
    return D / D.norm(dim=0)


def dirac_hadamard(n: int) -> torch.Tensor:
    """[I, H/√n] with H the Sylvester–Hadamard matrix of order n (a power of 4): μ = 1/√n."""
    k = round(math.log(n, 4))
    if n < 4 or 4 ** k != n:
        raise ValueError(f"the Dirac–Hadamard pair needs n a power of 4 (≥ 4), got {n}")
    H = torch.ones(1, 1, dtype=torch.float64)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    return torch.cat([torch.eye(n, dtype=torch.float64), H / math.sqrt(n)], dim=1)


def twin_representations(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two codes with √n non-zeros each and equal images in dirac_hadamard(n): spikes on a subgroup V of
    (ℤ/2)^log₂n with |V| = √n, and Hadamard atoms on its annihilator. The uniqueness bound ½(1 + √n) is
    thus within a factor two of tight: √n non-zeros no longer determine the code."""
    D = dirac_hadamard(n)
    bits = round(math.log2(n))
    V = [v for v in range(n) if v >> (bits // 2) == 0]  # the subgroup of the low half of the bits
    W = [w for w in range(n) if all(bin(v & w).count("1") % 2 == 0 for v in V)]  # its annihilator
    a = torch.zeros(2 * n, dtype=torch.float64)
    a[V] = 1.0
    b = torch.zeros(2 * n, dtype=torch.float64)
    b[[n + w for w in W]] = 1.0
    return a, b * float((D @ a).norm() / (D @ b).norm())


def donoho_elad_bound(mu: float) -> float:
    """½(1 + 1/μ): ‖x‖₀ below it makes x the unique sparsest solution, found by BP and OMP."""
    if not 0 < mu <= 1:
        raise ValueError(f"μ must lie in (0, 1], got {mu}")
    return 0.5 * (1 + 1 / mu)


def welch_bound(n: int, m: int) -> float:
    """Welch's lower bound on μ of m unit vectors in ℝⁿ: √((m − n)/(n(m − 1)))."""
    if m <= n:
        raise ValueError(f"the Welch bound needs m > n, got m={m}, n={n}")
    return math.sqrt((m - n) / (n * (m - 1)))


def conv_welch_bound(m: int, n: int) -> float:
    """Welch bound for a convolutional dictionary of m filters of length n: √((m − 1)/(m(2n − 1) − 1))."""
    if m < 2 or n < 1:
        raise ValueError(f"need at least 2 filters of positive length, got m={m}, n={n}")
    return math.sqrt((m - 1) / (m * (2 * n - 1) - 1))


def _linprog_bp(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """min ‖x‖₁ s.t. Ax = y as a linear programme in (x⁺, x⁻) ≥ 0 (scipy HiGHS)."""
    m = A.shape[1]
    res = linprog(np.ones(2 * m), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog failed: {res.message}")
    return res.x[:m] - res.x[m:]


def basis_pursuit_lp(D: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """min ‖x‖₁ s.t. Dx = y for every row y of Y, one linear programme per row (the reference solver)."""
    A = D.double().cpu().numpy()
    if Y.shape[1] != A.shape[0]:
        raise ValueError(f"signals have {Y.shape[1]} entries, the dictionary {A.shape[0]} rows")
    rows = [_linprog_bp(A, y) for y in tqdm(Y.double().cpu().numpy(), desc="basis pursuit (LP)", leave=False)]
    return torch.as_tensor(np.array(rows)).reshape(len(Y), A.shape[1]).to(D.device)


def basis_pursuit(D: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """min ‖x‖₁ s.t. Dx = y for every row of Y: the end (α → 0) of the LASSO path by LARS (sklearn), a
    basis-pursuit solution when D has full row rank; 10–30× faster than the linear programme on sparse rows.
    A row on which LARS breaks is solved by the linear programme instead."""
    A = D.double().cpu().numpy()
    if Y.shape[1] != A.shape[0]:
        raise ValueError(f"signals have {Y.shape[1]} entries, the dictionary {A.shape[0]} rows")
    rows = []
    with warnings.catch_warnings():  # LARS warns when the path ends early on an exact fit
        warnings.simplefilter("ignore")
        for y in tqdm(Y.double().cpu().numpy(), desc="basis pursuit (LARS)", leave=False):
            try:
                rows.append(lars_path(A, y, method="lasso", alpha_min=0.0, max_iter=10 * A.shape[1])[2][:, -1])
            except ValueError:  # some sklearn releases break on degenerate paths (a shape mismatch inside LARS)
                rows.append(_linprog_bp(A, y))
    return torch.as_tensor(np.array(rows)).reshape(len(Y), A.shape[1]).to(D.device)


def dual_certificate(D: torch.Tensor, X: torch.Tensor, V: torch.Tensor | None = None, margin: float = 1e-9) -> torch.Tensor:
    """Per row x: a dual vector v with D_Sᵀv = sign(x_S) and |dᵢᵀv| < 1 off the support S, D_S of full rank —
    then x is the unique solution of min ‖z‖₁ s.t. Dz = Dx (Fuchs 2004), and such a v exists whenever x is.
    v is the row of V moved onto {D_Sᵀv = sign(x_S)} by the least change; V = None gives Fuchs' minimum-norm v."""
    Dn = D.double()
    ok = torch.zeros(len(X), dtype=torch.bool, device=X.device)
    k = (X != 0).sum(1)
    for size in torch.unique(k).tolist():
        rows = (k == size).nonzero()[:, 0]
        if size == 0:
            ok[rows] = True
            continue
        idx = torch.sort((X[rows] != 0).to(torch.int8), dim=1, descending=True, stable=True).indices[:, :size]
        A = Dn.T[idx].mT  # (rows × n × size)
        s = torch.sign(X[rows].gather(1, idx)).double()
        v0 = torch.zeros(len(rows), Dn.shape[0], dtype=torch.float64, device=X.device) if V is None else V[rows].double()
        L, info = torch.linalg.cholesky_ex(A.mT @ A)
        w = torch.cholesky_solve((s - (A.mT @ v0[..., None])[..., 0])[..., None], L)[..., 0]
        v = v0 + (A @ w[..., None])[..., 0]
        corr = (v @ Dn).abs().scatter(1, idx, 0.0)
        ok[rows] = (info == 0) & (corr.amax(1) < 1 - margin)
    return ok


def bp_certificates(D: torch.Tensor, X: torch.Tensor, iterations: int = 3000, check: int = 50,
                    chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row x: (proved that basis pursuit on y = Dx returns x, proved that it does not), batched. Fuchs'
    certificate first; then ADMM on min ‖z‖₁ s.t. Dz = y for the other rows, every `check` steps a dual
    certificate from its scaled dual (recovery) or a feasible iterate with a smaller ℓ1 norm than x (failure).
    A row neither proves within `iterations` steps is left undecided (False, False)."""
    Dn, Xd = D.double(), X.double()
    if Xd.shape[1] != Dn.shape[1]:
        raise ValueError(f"codes have {Xd.shape[1]} entries, the dictionary {Dn.shape[1]} atoms")
    success, failure = dual_certificate(Dn, Xd), torch.zeros(len(Xd), dtype=torch.bool, device=Xd.device)
    rest = (~success).nonzero()[:, 0]
    P = torch.linalg.pinv(Dn) if len(rest) else None  # D⁺: z − D⁺(Dz − y) is the nearest point of {Dz = y}
    for start in tqdm(range(0, len(rest), chunk), desc="basis pursuit (ADMM)", leave=False):
        act = rest[start:start + chunk]
        x, Y = Xd[act], Xd[act] @ Dn.T
        l1 = x.abs().sum(1, keepdim=True)
        rho = (x != 0).sum(1, keepdim=True) / l1  # one over the mean magnitude: scale-free steps
        Z, U = Y @ P.T, torch.zeros_like(x)
        for step in range(1, iterations + 1):
            W = Z - U
            F = W - (W @ Dn.T - Y) @ P.T  # projection onto {Dz = y}: feasible to rounding
            Z = torch.sign(F + U) * ((F + U).abs() - 1 / rho).clamp_min(0)
            U = U + F - Z
            if step % check and step < iterations:
                continue
            won = dual_certificate(Dn, x, (rho * U) @ P)  # ρU ∈ ∂‖z‖₁ ∩ range(Dᵀ) at the solution: ρU ≈ Dᵀv
            lost = (F.abs().sum(1, keepdim=True) < l1 * (1 - 1e-8))[:, 0] & ~won
            success[act[won]], failure[act[lost]] = True, True
            keep = ~(won | lost)
            act, x, Y, l1, rho, Z, U = act[keep], x[keep], Y[keep], l1[keep], rho[keep], Z[keep], U[keep]
            if not len(act):
                break
    return success, failure


def bp_recovers(D: torch.Tensor, X: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """Per row x: basis pursuit on y = Dx returns x. Decided by bp_certificates where a certificate is found;
    the few rows left are solved (basis_pursuit) and compared with `recovered`."""
    ok, failed = bp_certificates(D, X)
    rest = (~ok & ~failed).nonzero()[:, 0]
    if len(rest):
        Xr = X[rest].double()
        ok[rest] = recovered(Xr, basis_pursuit(D, Xr @ D.double().T).to(Xr.device), rtol)
    return ok


def _omp_rows(D: torch.Tensor, Y: torch.Tensor, tol: float) -> torch.Tensor:
    """OMP on the rows of Y together: the chosen atoms' orthonormal basis Q (Gram–Schmidt, twice) and
    triangular factor grow one column per step; a row's coefficients are solved when it stops."""
    (n, m), steps, tiny = D.shape, min(D.shape), torch.finfo(torch.float64).tiny
    X = torch.zeros(len(Y), m, dtype=torch.float64, device=D.device)
    Q = torch.zeros(len(Y), steps, n, dtype=torch.float64, device=D.device)  # row-major: Q[:, :t] is contiguous
    T = torch.zeros(len(Y), steps, steps, dtype=torch.float64, device=D.device)
    chosen = torch.zeros(len(Y), steps, dtype=torch.long, device=D.device)
    act, R = torch.arange(len(Y), device=D.device), Y.clone()
    for t in range(steps + 1):
        leave = R.pow(2).sum(1) <= tol
        if t < steps:
            best = (R @ D).abs().max(1)
            q = D.T[best.indices]
            coef = (Q[:, :t] @ q[..., None])[..., 0]
            q = q - (coef[:, None] @ Q[:, :t])[:, 0]
            again = (Q[:, :t] @ q[..., None])[..., 0]
            q, coef = q - (again[:, None] @ Q[:, :t])[:, 0], coef + again
            norm = q.norm(dim=1)
            leave |= (best.values.pow(2) < tiny) | (chosen[:, :t] == best.indices[:, None]).any(1) | (norm.pow(2) <= tiny)
        else:
            leave[:] = True
        if leave.any():  # their coefficients: T c = Qᵀy on the t atoms chosen so far
            c = torch.linalg.solve_triangular(T[leave, :t, :t], Q[leave, :t] @ Y[act[leave]][..., None], upper=True)
            X[act[leave]] = X[act[leave]].scatter(1, chosen[leave, :t], c[..., 0])
            keep = ~leave
            act, R, Q, T, chosen = act[keep], R[keep], Q[keep], T[keep], chosen[keep]
            if t == steps or not len(act):
                break
            best_idx, q, coef, norm = best.indices[keep], q[keep], coef[keep], norm[keep]
        else:
            best_idx = best.indices
        q = q / norm[:, None]
        Q[:, t], T[:, :t, t], T[:, t, t], chosen[:, t] = q, coef, norm, best_idx
        R = R - q * (q * R).sum(1, keepdim=True)
    return X


def omp(D: torch.Tensor, Y: torch.Tensor, tol: float = 1e-10, chunk: int = 2048) -> torch.Tensor:
    """Orthogonal matching pursuit on every row of Y, with sklearn's rule: add the atom most correlated with
    the residual, refit all chosen atoms by least squares, stop when ‖y − Dx‖² ≤ tol (or when the best atom
    is one already chosen or depends linearly on them). Batched in torch; a test checks it against sklearn."""
    Dn = D.double()
    if Y.shape[1] != Dn.shape[0]:
        raise ValueError(f"signals have {Y.shape[1]} entries, the dictionary {Dn.shape[0]} rows")
    Yd = Y.double().to(D.device)
    parts = [_omp_rows(Dn, Yd[i:i + chunk], tol) for i in range(0, len(Yd), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, Dn.shape[1], dtype=torch.float64, device=D.device)


def random_sparse(m: int, k: int, n_trials: int, gen: torch.Generator) -> torch.Tensor:
    """n_trials vectors in ℝᵐ with k non-zeros at random places, random signs, magnitudes uniform in [0.1, 1]."""
    keys = torch.rand(n_trials, m, generator=gen)
    support = keys.argsort(1)[:, :k]
    values = (0.1 + 0.9 * torch.rand(n_trials, k, generator=gen, dtype=torch.float64)) * \
        (torch.randint(0, 2, (n_trials, k), generator=gen) * 2 - 1)
    return torch.zeros(n_trials, m, dtype=torch.float64).scatter(1, support, values)


def recovered(true: torch.Tensor, est: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """Per trial: ‖x̂ − x‖₂ ≤ rtol·‖x‖₂ (exact recovery up to solver precision)."""
    return (est - true).norm(dim=1) <= rtol * true.norm(dim=1)


def recovery_sweep(dictionaries: dict[str, torch.Tensor], sparsities: list[int], n_trials: int, seed: int = 0) -> pd.DataFrame:
    """Exact-recovery counts of BP and OMP for every dictionary and ‖x‖₀, with μ and the Donoho–Elad bound."""
    rows = []
    for name, D in dictionaries.items():
        mu = coherence.mutual_coherence(D)
        gen = torch.Generator().manual_seed(seed)
        for k in sparsities:
            x = random_sparse(D.shape[1], k, n_trials, gen)
            Y = x @ D.T
            for method, ok in (("BP", bp_recovers(D, x)), ("OMP", recovered(x, omp(D, Y)))):
                rows.append({"dictionary": name, "mu": mu, "bound": donoho_elad_bound(mu), "k": k,
                             "method": method, "successes": int(ok.sum()), "trials": n_trials})
    return pd.DataFrame(rows)
