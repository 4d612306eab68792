"""Single-layer sparse recovery: classic dictionaries, exact basis pursuit (an ℓ1 linear programme), OMP,
the Donoho–Elad coherence bound and the Welch bound, and recovery-rate sweeps over ‖x‖₀."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy.fft import dct
from scipy.optimize import linprog
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.linear_model import OrthogonalMatchingPursuit
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
    """patch² × m dictionary learned by sklearn's MiniBatchDictionaryLearning on whitened natural-image patches."""
    rng = np.random.default_rng(seed)
    images = [whiten(im) for im in load_natural_images("skimage")]
    X = sample_patches(images, patch, n_patches, rng)
    X = X - X.mean(1, keepdims=True)
    learner = MiniBatchDictionaryLearning(n_components=m, alpha=0.1, batch_size=256, max_iter=5, random_state=seed)
    D = torch.as_tensor(learner.fit(X).components_.T, dtype=torch.float64)
    return D / D.norm(dim=0)


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


def basis_pursuit(D: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """min ‖x‖₁ s.t. Dx = y for every row y of Y, solved exactly as a linear programme (HiGHS)."""
    A = D.double().cpu().numpy()
    n, m = A.shape
    if Y.shape[1] != n:
        raise ValueError(f"signals have {Y.shape[1]} entries, the dictionary {n} rows")
    A_eq, cost = np.hstack([A, -A]), np.ones(2 * m)
    out = []
    for y in tqdm(Y.double().cpu().numpy(), desc="basis pursuit", leave=False):
        res = linprog(cost, A_eq=A_eq, b_eq=y, bounds=(0, None), method="highs")
        if res.status != 0:
            raise RuntimeError(f"linprog failed: {res.message}")
        out.append(res.x[:m] - res.x[m:])
    return torch.as_tensor(np.array(out)).reshape(len(Y), m)


def omp(D: torch.Tensor, Y: torch.Tensor, tol: float = 1e-10) -> torch.Tensor:
    """Orthogonal matching pursuit (sklearn) on every row of Y, run until ‖y − Dx‖² ≤ tol."""
    model = OrthogonalMatchingPursuit(tol=tol, fit_intercept=False)
    coef = model.fit(D.double().cpu().numpy(), Y.double().cpu().numpy().T).coef_
    return torch.as_tensor(coef).reshape(len(Y), D.shape[1])


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
            for method, solver in (("BP", basis_pursuit), ("OMP", omp)):
                hits = int(recovered(x, solver(D, Y)).sum())
                rows.append({"dictionary": name, "mu": mu, "bound": donoho_elad_bound(mu), "k": k,
                             "method": method, "successes": hits, "trials": n_trials})
    return pd.DataFrame(rows)
