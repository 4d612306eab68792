"""Orthogonal sparse coding (Bowren §2.2, §3.1, §5): closed-form codes, learning with eq 15 and an SVD
re-orthogonalisation, and the checks that compare the closed forms with exact solvers."""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from scpaper import coherence, lasso, thresholds

CONSTRAINTS = ("polar", "eq18", "none")


def _check_atoms(Phi: torch.Tensor) -> None:
    """One-line ValueError unless Phi is a finite (dim × n_atoms) float matrix with n_atoms ≤ dim."""
    if Phi.ndim != 2 or not Phi.is_floating_point():
        raise ValueError(f"Phi must be a float (dim, n_atoms) matrix, got {Phi.dtype} of shape {tuple(Phi.shape)}")
    if Phi.shape[1] > Phi.shape[0]:
        raise ValueError(f"orthogonal atoms need n_atoms ≤ dim, got {Phi.shape[1]} atoms of dim {Phi.shape[0]}")
    if not torch.isfinite(Phi).all():
        raise ValueError("Phi contains NaN or inf")


def orthonormalize(Phi: torch.Tensor, rule: str = "polar") -> torch.Tensor:
    """Orthonormal columns from Phi = UΣVᵀ (eq 17): 'polar' ΦVΣ⁻¹Vᵀ = UVᵀ, the nearest such matrix;
    'eq18' ΦVΣ⁻¹ = U exactly as printed, which also rotates the atoms by V."""
    _check_atoms(Phi)
    if rule not in ("polar", "eq18"):
        raise ValueError(f"unknown orthonormalisation rule {rule!r}: choose polar or eq18")
    U, S, Vh = torch.linalg.svd(Phi, full_matrices=False)
    if S.min() <= S.max() * Phi.shape[0] * torch.finfo(Phi.dtype).eps:
        raise ValueError("Phi is rank-deficient: its atoms cannot be orthonormalised")
    return U @ Vh if rule == "polar" else U


def random_orthonormal(dim: int, n_atoms: int, generator: torch.Generator, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A (dim × n_atoms) matrix with orthonormal columns, uniform on the Stiefel manifold."""
    if not 0 < n_atoms <= dim:
        raise ValueError(f"need 0 < n_atoms ≤ dim, got n_atoms={n_atoms}, dim={dim}")
    return orthonormalize(torch.randn(dim, n_atoms, generator=generator, dtype=dtype))


def codes(Phi: torch.Tensor, X: torch.Tensor, lam: thresholds.Lam, nonneg: bool = False) -> torch.Tensor:
    """Closed-form codes of the rows of X: S_λ(Φᵀx) (eq 14), or ReLU(Φᵀx − λ) when nonneg (eqs 33, 45)."""
    if X.ndim != 2 or X.shape[1] != Phi.shape[0]:
        raise ValueError(f"X must be (batch, {Phi.shape[0]}), got shape {tuple(X.shape)}")
    return (thresholds.soft_nonneg if nonneg else thresholds.soft)(X @ Phi, lam)


def objective_per_patch(Phi: torch.Tensor, X: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq 15 for every row x of X: ½‖x − Φs(Φᵀx)‖² + λ‖s(Φᵀx)‖₁."""
    a = codes(Phi, X, lam)
    return 0.5 * (X - a @ Phi.T).pow(2).sum(1) + lam * a.abs().sum(1)


def objective(Phi: torch.Tensor, X: torch.Tensor, lam: float) -> torch.Tensor:
    """Eq 15 per patch: mean over rows of ½‖x − Φs(Φᵀx)‖² + λ‖s(Φᵀx)‖₁ (a differentiable scalar)."""
    return objective_per_patch(Phi, X, lam).mean()


class Learned(NamedTuple):
    """Learned atoms (dim × n_atoms, float64 on the CPU) and eq 15 on held-out patches at the recorded steps."""

    atoms: torch.Tensor
    steps: torch.Tensor
    objective: torch.Tensor


def learn(X: torch.Tensor, X_eval: torch.Tensor, n_atoms: int, lam: float, *, steps: int, lr: float, batch_size: int,
          constraint: str = "polar", records: int = 50, seed: int = 0, device: torch.device | str = "cpu",
          progress: bool = True) -> Learned:
    """Minimise eq 15 over Φ by minibatch gradient descent (gradient through the closed-form codes, cosine
    decay of lr), then after each step re-orthonormalise by SVD: constraint 'polar' (UVᵀ), 'eq18' (U, as
    printed) or 'none'. Φ starts from a random orthonormal matrix; eq 15 on X_eval is recorded `records` times."""
    if X.ndim != 2 or X_eval.ndim != 2 or X.shape[1] != X_eval.shape[1] or len(X) == 0:
        raise ValueError(f"X and X_eval must be non-empty (N, dim) matrices, got {tuple(X.shape)} and {tuple(X_eval.shape)}")
    if not (torch.isfinite(X).all() and torch.isfinite(X_eval).all()):
        raise ValueError("patches contain NaN or inf")
    if lam < 0 or lr <= 0 or steps < 1 or batch_size < 1 or records < 1:
        raise ValueError(f"need lam ≥ 0, lr > 0, steps, batch_size, records ≥ 1; got {lam}, {lr}, {steps}, {batch_size}, {records}")
    if constraint not in CONSTRAINTS:
        raise ValueError(f"unknown constraint {constraint!r}: choose one of {', '.join(CONSTRAINTS)}")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    Phi = random_orthonormal(X.shape[1], n_atoms, gen, torch.float32).to(device).requires_grad_(True)
    X, X_eval = X.float().to(device), X_eval.float().to(device)
    at = set(np.linspace(0, steps, records + 1).round().astype(int).tolist())
    recorded, values = [], []
    for step in tqdm(range(steps + 1), desc=f"orthogonal SC {n_atoms} atoms ({constraint})", disable=not progress, leave=False):
        if step in at:
            with torch.no_grad():
                recorded.append(step)
                values.append(float(objective(Phi, X_eval, lam)))
        if step == steps:
            break
        batch = X[torch.randint(len(X), (batch_size,), generator=gen).to(device)]
        grad, = torch.autograd.grad(objective(Phi, batch, lam), Phi)
        with torch.no_grad():
            Phi -= lr * 0.5 * (1 + math.cos(math.pi * step / steps)) * grad
            if constraint != "none":
                Phi.copy_(orthonormalize(Phi.double(), constraint))  # float64 SVD: float32 may not converge
            elif not torch.isfinite(Phi).all():
                values += [math.nan] * (len(at) - len(values))
                recorded = sorted(at)
                break
    return Learned(Phi.detach().double().cpu(), torch.tensor(recorded), torch.tensor(values, dtype=torch.float64))


def steps_to_reach(run: Learned, value: float) -> int | None:
    """The first recorded step at which the held-out objective is at or below value (None if never)."""
    hit = (run.objective <= value).nonzero()
    return int(run.steps[hit[0, 0]]) if len(hit) else None


def ica_basis(X: torch.Tensor, n_components: int, seed: int = 0, max_iter: int = 400) -> torch.Tensor:
    """ICA basis functions of the rows of X: columns of sklearn FastICA's mixing matrix (logcosh contrast,
    unit-variance whitening), each scaled to unit norm; (dim × n_components) float64."""
    from sklearn.decomposition import FastICA

    ica = FastICA(n_components, whiten="unit-variance", random_state=seed, max_iter=max_iter, tol=1e-3)
    ica.fit(X.double().numpy())
    A = torch.from_numpy(ica.mixing_)
    return A / A.norm(dim=0)


class Standard(NamedTuple):
    """Standard sparse coding: unit-norm atoms, and exact codes of held-out patches with their certificate."""

    atoms: torch.Tensor
    objective: float
    certified: float
    codes: torch.Tensor


def high_frequency_share(atoms: torch.Tensor, shape: tuple[int, int], cutoff: float = 0.25) -> torch.Tensor:
    """Per atom (column), the share of its spectral power at radial frequencies above cutoff cycles/pixel
    (0.25 = half the Nyquist frequency)."""
    h, w = shape
    if atoms.ndim != 2 or atoms.shape[0] != h * w:
        raise ValueError(f"atoms must be ({h * w}, n_atoms) for {h}×{w} patches, got shape {tuple(atoms.shape)}")
    power = torch.fft.fft2(atoms.T.reshape(-1, h, w).double()).abs().pow(2)
    f = torch.sqrt(torch.fft.fftfreq(h, dtype=torch.float64)[:, None] ** 2 + torch.fft.fftfreq(w, dtype=torch.float64)[None, :] ** 2)
    return (power * (f > cutoff)).sum((1, 2)) / power.sum((1, 2))


def high_frequency_counts(learned: dict[int, torch.Tensor], shape: tuple[int, int], cutoff: float = 0.25,
                          share: float = 0.9) -> pd.DataFrame:
    """Per basis (n_atoms → dim × n_atoms atoms): how many atoms have more than `share` of their power above cutoff."""
    rows = [{"n_atoms": n, "dim": atoms.shape[0], "high_frequency": int((high_frequency_share(atoms, shape, cutoff) > share).sum())}
            for n, atoms in learned.items()]
    return pd.DataFrame(rows)


def code_energy_share(codes: torch.Tensor) -> torch.Tensor:
    """Per atom (column of codes, unit-norm atoms), its share of the total code energy Σₙ aₙᵢ² over the rows."""
    energy = codes.double().pow(2).sum(0)
    return energy / energy.sum().clamp_min(1e-300)


def removal_increase(atoms: torch.Tensor, X: torch.Tensor, lam: float) -> torch.Tensor:
    """Per orthonormal atom, the relative increase of eq 15 on the rows of X when that atom is removed.

    With orthonormal atoms the objective separates: removing atom i replaces ½(uᵢ − sᵢ)² + λ|sᵢ| by ½uᵢ²
    on every patch and leaves the other codes unchanged (uᵢ = Φᵢᵀx, sᵢ = S_λ(uᵢ))."""
    _check_atoms(atoms)
    U = X.double() @ atoms.double()
    S = thresholds.soft(U, lam)
    per_atom = 0.5 * U.pow(2) - 0.5 * (U - S).pow(2) - lam * S.abs()
    total = 0.5 * (X.double() - S @ atoms.double().T).pow(2).sum(1) + lam * S.abs().sum(1)
    return per_atom.sum(0) / total.sum()


def band_count(shape: tuple[int, int], f0: float) -> int:
    """Frequencies of the actual h×w DFT grid with 0 < |f| < f0 cycles/pixel: the dimensions the whitening
    filter's pass band leaves in a patch (DC is removed by whitening)."""
    f = torch.sqrt(torch.fft.fftfreq(shape[0], dtype=torch.float64)[:, None] ** 2
                   + torch.fft.fftfreq(shape[1], dtype=torch.float64)[None, :] ** 2)
    return int(((f > 0) & (f < f0)).sum())


def eigen_count(X: torch.Tensor, level: float) -> int:
    """How many eigenvalues of the patch covariance XᵀX/N exceed level."""
    eigen = torch.linalg.eigvalsh(X.double().T @ X.double() / len(X))
    return int((eigen > level).sum())


def activity(atoms: torch.Tensor, X: torch.Tensor, lam: float) -> torch.Tensor:
    """Per atom, the fraction of patches whose closed-form code is non-zero (|Φᵢᵀx| > λ)."""
    return ((X.double() @ atoms.double()).abs() > lam).double().mean(0)


def solver_samples(dim: int, n_atoms: int, lam: float, n_inputs: int, *, nonneg: bool = False, per_atom: bool = False,
                   generator: torch.Generator) -> tuple[torch.Tensor, lasso.LassoResult, torch.Tensor]:
    """A random orthonormal Φ (dim × n_atoms) and N(0, 1) inputs: Φᵀx, the exact lasso result, and λ per atom
    (all λ, or λᵢ uniform in [0, 2λ] when per_atom, as in eq 45)."""
    Phi = random_orthonormal(dim, n_atoms, generator)
    X = torch.randn(n_inputs, dim, generator=generator, dtype=torch.float64)
    lam_v = 2 * lam * torch.rand(n_atoms, generator=generator, dtype=torch.float64) if per_atom else torch.full((n_atoms,), float(lam), dtype=torch.float64)
    return X @ Phi, lasso.solve(Phi, X, lam_v, nonneg=nonneg), lam_v


def closed_form_check(dim: int, n_atoms: int, lams: list[float], n_inputs: int, *, nonneg: bool = False,
                      per_atom: bool = False, seed: int = 0) -> pd.DataFrame:
    """Exact lasso codes (certified active set) against the closed form S_λ(Φᵀx), or ReLU(Φᵀx − λ) when
    nonneg, on random orthonormal dictionaries: one row per λ with max |â − closed form|, the certified
    fraction and the fraction of non-zero codes."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for lam in lams:
        u, exact, lam_v = solver_samples(dim, n_atoms, lam, n_inputs, nonneg=nonneg, per_atom=per_atom, generator=gen)
        closed = (thresholds.soft_nonneg if nonneg else thresholds.soft)(u, lam_v)
        rows.append({"lam": lam, "max_deviation": float((exact.codes - closed).abs().max()),
                     "certified": exact.certified_fraction, "active": float((closed != 0).double().mean())})
    return pd.DataFrame(rows)


def ridge_codes(D: torch.Tensor, X: torch.Tensor, lam: float) -> torch.Tensor:
    """Ridge codes (eq 76): rows of (DᵀD + λI)⁻¹Dᵀx, by a Cholesky solve."""
    G = D.T @ D + lam * torch.eye(D.shape[1], dtype=D.dtype, device=D.device)
    return torch.cholesky_solve((X @ D).T, torch.linalg.cholesky(G)).T


def mixed_dictionary(dim: int, n_atoms: int, mix: float, generator: torch.Generator) -> torch.Tensor:
    """Unit-norm atoms interpolating an orthonormal set (mix = 0) and independent Gaussian atoms (mix = 1)."""
    if not 0 <= mix <= 1:
        raise ValueError(f"mix must lie in [0, 1], got {mix}")
    Q = random_orthonormal(dim, n_atoms, generator)
    R = torch.randn(dim, n_atoms, generator=generator, dtype=torch.float64)
    D = (1 - mix) * Q + mix * R / math.sqrt(dim)
    return D / D.norm(dim=0)


def ridge_gap(D: torch.Tensor, X: torch.Tensor, lam: float) -> dict:
    """How far eq 78 is from eq 76 for a unit-norm dictionary D: the spectral-norm error of
    (DᵀD + λI)⁻¹ ≈ I/(1+λ) relative to 1/(1+λ), and the relative error of the codes on the rows of X
    (overall, and per row under 'per_row')."""
    D, X = D.double(), X.double()
    eye = torch.eye(D.shape[1], dtype=torch.float64)
    inverse = torch.linalg.inv(D.T @ D + lam * eye)
    exact, approx = ridge_codes(D, X, lam), thresholds.ridge(X @ D, lam)
    return {"mu": coherence.mutual_coherence(D),
            "matrix_error": float(torch.linalg.matrix_norm(inverse - eye / (1 + lam), ord=2) * (1 + lam)),
            "code_error": float((exact - approx).norm() / exact.norm()),
            "per_row": (exact - approx).norm(dim=1) / exact.norm(dim=1).clamp_min(1e-300)}


def lasso_gap(D: torch.Tensor, X: torch.Tensor, lam: float) -> dict:
    """How far the orthogonal closed form S_λ(Dᵀx) is from the certified exact lasso code of a unit-norm
    dictionary D on the rows of X: μ, per-row relative error ‖S_λ(Dᵀx) − â‖/‖â‖ (rows with â = 0 skipped),
    and the certified fraction."""
    D, X = D.double(), X.double()
    exact = lasso.solve(D, X, lam)
    closed = thresholds.soft(X @ D, lam)
    norm = exact.codes.norm(dim=1)
    keep = norm > 0
    return {"mu": coherence.mutual_coherence(D), "per_row": ((closed - exact.codes).norm(dim=1)[keep] / norm[keep]),
            "certified": exact.certified_fraction}


def lasso_vs_coherence(X: torch.Tensor, n_atoms: int, lam: float, mixes: list[float], seed: int = 0) -> pd.DataFrame:
    """lasso_gap for dictionaries of n_atoms atoms between orthonormal and Gaussian: μ, mean relative code error."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for mix in tqdm(mixes, desc="lasso vs coherence", leave=False):
        gap = lasso_gap(mixed_dictionary(X.shape[1], n_atoms, mix, gen), X, lam)
        rows.append({"mix": mix, "mu": gap["mu"], "code_error": float(gap["per_row"].mean()), "certified": gap["certified"]})
    return pd.DataFrame(rows)


def ridge_vs_coherence(X: torch.Tensor, n_atoms: int, lam: float, mixes: list[float], draws: int, seed: int = 0) -> pd.DataFrame:
    """ridge_gap for dictionaries of n_atoms atoms (dim of X) with growing coherence, `draws` per mix."""
    gen = torch.Generator().manual_seed(seed)
    rows = [{"mix": mix, **{k: v for k, v in ridge_gap(mixed_dictionary(X.shape[1], n_atoms, mix, gen), X, lam).items()
                            if k != "per_row"}} for mix in mixes for _ in range(draws)]
    return pd.DataFrame(rows)


def best_support(D: torch.Tensor, x: torch.Tensor, k: int) -> float:
    """min over codes with at most k non-zeros of ½‖x − Da‖², by trying every support of size k."""
    if not 0 <= k <= D.shape[1]:
        raise ValueError(f"k must lie in 0..{D.shape[1]}, got {k}")
    if k == 0:
        return float(0.5 * x.pow(2).sum())
    supports = torch.tensor(list(itertools.combinations(range(D.shape[1]), k)), dtype=torch.long)
    Ds = D[:, supports].permute(1, 0, 2)  # (n_supports, dim, k)
    coef = torch.linalg.lstsq(Ds, x.expand(len(supports), -1)[..., None]).solution
    return float(0.5 * (x - (Ds @ coef)[..., 0]).pow(2).sum(1).min())


def best_penalised(D: torch.Tensor, x: torch.Tensor, lam: float) -> float:
    """min over all codes of ½‖x − Da‖² + λ‖a‖₀, by trying every support (least squares on each)."""
    return min(best_support(D, x, k) + lam * k for k in range(D.shape[1] + 1))


def l0_penalised_check(dim: int, lams: list[float], trials: int, seed: int = 0) -> pd.DataFrame:
    """Penalised L0 on random orthonormal problems: the hard threshold at √(2λ) against brute force over
    every support. One row per λ: the worst relative excess of the hard-threshold objective over the
    optimum, and the mean number of kept coefficients."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for lam in lams:
        excess, kept = [], []
        for _ in range(trials):
            D = random_orthonormal(dim, dim, gen)
            x = torch.randn(dim, generator=gen, dtype=torch.float64)
            a = thresholds.hard(x @ D, lam)
            value = 0.5 * float((x - D @ a).pow(2).sum()) + lam * int((a != 0).sum())
            best = best_penalised(D, x, lam)
            excess.append((value - best) / max(best, 1e-300))
            kept.append(int((a != 0).sum()))
        rows.append({"lam": lam, "threshold √(2λ)": math.sqrt(2 * lam), "kept": float(np.mean(kept)),
                     "worst_excess": float(max(excess))})
    return pd.DataFrame(rows)


def l0_check(dim: int, n_atoms: int, ks: list[int], trials: int, mix: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Top-k of |Dᵀx| (eq 79) against brute force over all supports of size k, on random problems.

    One row per k: fraction of trials where the eq 79 code reaches the optimum (to 1e-9 relative), the
    same with least-squares coefficients refitted on the top-k support, and the worst relative excess of
    the eq 79 code. mix = 0 uses orthonormal atoms; mix > 0 unit-norm atoms as in mixed_dictionary.
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for k in ks:
        literal, refit, mus = [], [], []
        for _ in range(trials):
            D = mixed_dictionary(dim, n_atoms, mix, gen)
            x = torch.randn(dim, generator=gen, dtype=torch.float64)
            a = thresholds.top_k(x @ D, k)
            support = a.nonzero()[:, 0]
            ls = torch.linalg.lstsq(D[:, support], x[:, None]).solution[:, 0]
            best = max(best_support(D, x, k), 1e-300)
            mus.append(coherence.mutual_coherence(D))
            literal.append((0.5 * float((x - D @ a).pow(2).sum()) - best) / best)
            refit.append((0.5 * float((x - D[:, support] @ ls).pow(2).sum()) - best) / best)
        lit, ref = torch.tensor(literal), torch.tensor(refit)
        rows.append({"k": k, "mix": mix, "mu": float(np.mean(mus)), "optimal": float((lit < 1e-9).double().mean()),
                     "optimal_support": float((ref < 1e-9).double().mean()), "worst_excess": float(lit.max())})
    return pd.DataFrame(rows)
