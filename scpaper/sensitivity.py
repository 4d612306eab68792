"""Sensitivity of exact sparse codes to image perturbations (Luther & Seung §2–5).

The code r(x) of an image is locally linear, r₊ = (D₊ᵀD₊)⁻¹(D₊ᵀx − λs₊) (eq 4), so its directional
derivative along v is J₊v with J₊ = (D₊ᵀD₊)⁻¹D₊ᵀ (eq 6). Everything here works from certified codes.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from scpaper import data, distortion, lasso

KINDS = ("noise", "swap", "distortion")


class Codes(NamedTuple):
    """Exact lasso codes of a batch of images, their eq-9 certificate, the solver's per-code uniqueness flag
    (certified and the atoms at threshold linearly independent) and the solver's wall time."""

    codes: torch.Tensor
    certified: torch.Tensor
    unique: torch.Tensor
    seconds: float


def exact_codes(D: torch.Tensor, X: torch.Tensor, lam: float, device: torch.device | str = "cpu",
                presolve: int = 0) -> Codes:
    """Certified lasso codes of the rows of X over D (signed: S_λ is two-sided in eq 2–3), the exact solver
    started from `presolve` FISTA steps (lasso.solve)."""
    start = time.perf_counter()
    device = torch.device(device)
    out = lasso.solve(D.to(device), X.to(device), lam, progress=True, presolve=presolve)
    return Codes(out.codes.cpu(), out.certified.cpu(), out.unique.cpu(), time.perf_counter() - start)


def perturbations(images: torch.Tensor, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Directions Δx for each image (N, 28, 28): N(0, I) noise, a swap to another image, an elastic distortion."""
    n = len(images)
    if n < 2:
        raise ValueError("swaps need at least two images")
    flat = images.reshape(n, -1)
    other = (np.arange(n) + rng.integers(1, n, size=n)) % n  # never the image itself
    noise = torch.from_numpy(rng.standard_normal(flat.shape)).to(flat.dtype)
    warped = distortion.elastic(images, rng).reshape(n, -1)
    return {"noise": noise, "swap": flat[other] - flat, "distortion": warped - flat}


def code_gains(D: torch.Tensor, codes: torch.Tensor, V: torch.Tensor, progress: bool = True) -> torch.Tensor:
    """‖J₊v‖/‖v‖ for each code (row of codes) and its direction (row of V), with the exact active Jacobian."""
    if codes.shape[0] != V.shape[0] or codes.shape[1] != D.shape[1] or V.shape[1] != D.shape[0]:
        raise ValueError(f"need codes (N, {D.shape[1]}) and V (N, {D.shape[0]}), got {tuple(codes.shape)}, {tuple(V.shape)}")
    D64, V64 = D.double(), V.double()
    G = D64.T @ D64
    out = torch.zeros(len(V), dtype=torch.float64)
    for i in tqdm(range(len(V)), desc="active Jacobians", disable=not progress, leave=False):
        s = codes[i].nonzero()[:, 0]
        if len(s):
            out[i] = torch.linalg.solve(G[s][:, s], D64[:, s].T @ V64[i]).norm()
    return out / V64.norm(dim=1)


def hidden_gains(W: torch.Tensor, b: torch.Tensor, X: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """‖Jv‖/‖v‖ for the hidden layer h = ReLU(Wx + b) at each row of X along the same row of V."""
    on = (X @ W.T + b > 0).to(V.dtype)
    return ((V @ W.T) * on).norm(dim=1) / V.norm(dim=1)


def finite_difference(D: torch.Tensor, x: torch.Tensor, lam: float, v: torch.Tensor,
                      eps: tuple[float, ...] = (1e-3, 1e-4, 1e-5, 1e-6)) -> tuple[float, float]:
    """Relative gap between J₊v and the central difference (r(x + εv) − r(x − εv))/2ε of the exact solver,
    and the ε used: the largest in eps whose x ± εv keep the support (inf, 0 if none does).

    x ± εv is formed in float64 (in float32 the rounding of x ± εv, ~1e-7·‖x‖/ε, would dominate). The code
    is piecewise linear in x, so on one support the difference has no truncation error.
    """
    D64, x64, v64 = D.double(), x.double(), v.double()
    for e in eps:
        out = lasso.solve(D64, torch.stack([x64 - e * v64, x64, x64 + e * v64]), lam)
        if not out.certified.all():
            raise ValueError("the solver did not certify the codes used for the finite difference")
        support = out.codes != 0
        if (support == support[1]).all():
            fd = (out.codes[2] - out.codes[0]) / (2 * e)
            jv = lasso.active_jacobian(D64, out.codes[1]) @ v64
            return float((fd - jv).norm() / jv.norm()), e
    return float("inf"), 0.0


class Overlaps(NamedTuple):
    """Active atoms of one code, overlaps dₐ·d_b of all their pairs, and the most-overlapping pairs."""

    active: torch.Tensor  # atom indices, by decreasing |code|
    overlaps: torch.Tensor  # all pairs i < j
    pairs: torch.Tensor  # (top, 2) atom indices, by decreasing overlap
    top: torch.Tensor  # their overlaps


def overlaps(D: torch.Tensor, code: torch.Tensor, top: int = 10) -> Overlaps:
    """Pairwise overlaps of the active atoms of one code and its `top` most-overlapping pairs (Fig 2)."""
    active = code.nonzero()[:, 0]
    active = active[code[active].abs().argsort(descending=True)]
    G = D[:, active].T @ D[:, active]
    i, j = torch.triu_indices(len(active), len(active), 1)
    o = G[i, j]
    best = o.argsort(descending=True)[:top]
    return Overlaps(active, o, torch.stack([active[i[best]], active[j[best]]], 1), o[best])


def normalised_mean(images: torch.Tensor) -> torch.Tensor:
    """|Σₘ uₘ| / Σₘ |uₘ| of each row: 1 for a one-signed image, 0 when it sums to zero (the §4.2 statistic)."""
    return images.sum(1).abs() / images.abs().sum(1)


def pair_gains(D: torch.Tensor, code: torch.Tensor, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """‖J₊(d₁ − d₂)‖/‖d₁ − d₂‖ with the exact Jacobian, and eq 5's prediction 1/√(1 − d₁·d₂), per pair."""
    J = lasso.active_jacobian(D.double(), code)
    D64 = D.double()
    V = D64[:, pairs[:, 0]] - D64[:, pairs[:, 1]]
    measured = (J @ V).norm(dim=0) / V.norm(dim=0)
    predicted = 1 / torch.sqrt(1 - (D64[:, pairs[:, 0]] * D64[:, pairs[:, 1]]).sum(0))
    return measured, predicted


class Spectrum(NamedTuple):
    """SVD of the active dictionary D₊ = UΣVᵀ of one code: image-space singular vectors, by decreasing gain."""

    vectors: torch.Tensor  # (dim, k) columns of U
    singular: torch.Tensor  # (k,) increasing
    gains: torch.Tensor  # 1/σ, decreasing


def spectrum(D: torch.Tensor, code: torch.Tensor) -> Spectrum:
    """Singular vectors and gains 1/σ of the active dictionary of one code (Fig 3)."""
    active = code.nonzero()[:, 0]
    if len(active) == 0:
        raise ValueError("the code has no active atom")
    U, S, _ = torch.linalg.svd(D[:, active].double(), full_matrices=False)
    return Spectrum(U.flip(1), S.flip(0), 1 / S.flip(0))


def overlap_spectrum(spec: Spectrum, V: torch.Tensor) -> torch.Tensor:
    """Overlap of each unit-normalised direction (row of V) with each singular vector: (N, k)."""
    V64 = V.double()
    return (V64 / V64.norm(dim=1, keepdim=True)) @ spec.vectors


RIP_BOUND = float(np.sqrt(2) - 1)  # Candès (2008): δ₂ₖ < √2 − 1 makes ℓ1 minimisation recover k-sparse codes


def rip_constant(D: torch.Tensor, code: torch.Tensor) -> float:
    """δ = max(1 − σ_min², σ_max² − 1) of the active dictionary D₊ of one code: the smallest δ with
    (1 − δ)‖r‖² ≤ ‖D₊r‖² ≤ (1 + δ)‖r‖² on its support, so a lower bound on the RIP constant of order |support|."""
    active = code.nonzero()[:, 0]
    if len(active) == 0:
        raise ValueError("the code has no active atom")
    S = torch.linalg.svdvals(D[:, active].double())
    return float(torch.maximum(1 - S[-1] ** 2, S[0] ** 2 - 1))


class DigitSpectra(NamedTuple):
    """Per digit: the singular values of its own active dictionary and how perturbations spread over its
    singular directions (Fig 3e over many digits). NaN rows for codes with no active atom."""

    active: torch.Tensor  # (N,) number of active atoms k
    sigma_min: torch.Tensor  # (N,) σ*: 1/σ* is the largest gain (eq 7)
    sigma_max: torch.Tensor  # (N,)
    rip: torch.Tensor  # (N,) δ = max(1 − σ_min², σ_max² − 1)
    noise_gain: torch.Tensor  # (N,) √(Σᵢσᵢ⁻²/m) = √(E‖J₊n‖²/E‖n‖²) for n ~ N(0, I)
    pair_gain: torch.Tensor  # (N,) 1/√(1 − max |dₐ·d_b|) over active pairs: eq 5's largest pair gain
    in_span: dict[str, torch.Tensor]  # kind → (N,) share of a unit direction's power inside span(D₊)
    top_share: dict[str, torch.Tensor]  # kind → (N,) share of the in-span power on the highest-gain quarter
    profile: dict[str, torch.Tensor]  # kind → (N, bins) power per bin of singular directions by decreasing gain


def digit_spectra(D: torch.Tensor, codes: torch.Tensor, directions: dict[str, torch.Tensor], bins: int = 20,
                  progress: bool = True) -> DigitSpectra:
    """Each digit's own SVD D₊ = UΣVᵀ and the power (uᵢ·Δx/‖Δx‖)² of its perturbations (rows of each
    directions[kind]) per singular direction, ordered by decreasing gain 1/σᵢ and binned by relative rank i/k."""
    n = len(codes)
    if bins < 4 or bins % 4:
        raise ValueError(f"bins must be a positive multiple of 4 (the highest-gain quarter is a bin edge), got {bins}")
    if any(V.shape != (n, D.shape[0]) for V in directions.values()) or codes.shape != (n, D.shape[1]):
        raise ValueError(f"need codes ({n}, {D.shape[1]}) and directions ({n}, {D.shape[0]}) of every kind")
    D64 = D.double()
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    k, smin, smax, noise, pair = (nan.clone() for _ in range(5))
    in_span = {kind: nan.clone() for kind in directions}
    top = {kind: nan.clone() for kind in directions}
    profile = {kind: torch.full((n, bins), float("nan"), dtype=torch.float64) for kind in directions}
    q = np.linspace(0, 1, bins + 1)
    for i in tqdm(range(n), desc="active spectra", disable=not progress, leave=False):
        s = codes[i].nonzero()[:, 0]
        if len(s) == 0:
            continue
        A = D64[:, s]
        U, S, _ = torch.linalg.svd(A, full_matrices=False)
        U, S = U.flip(1), S.flip(0)  # by increasing σ: decreasing gain
        k[i], smin[i], smax[i] = len(s), S[0], S[-1]
        noise[i] = (S.pow(-2).sum() / D.shape[0]).sqrt()
        G = (A.T @ A).abs().fill_diagonal_(0)
        pair[i] = 1 / (1 - G.max()).sqrt()  # 1 for a single atom, whose only overlap is the zeroed diagonal
        for kind, V in directions.items():
            v = V[i].double()
            cum = np.concatenate([[0.0], (U.T @ (v / v.norm())).pow(2).cumsum(0).numpy()])
            at = torch.from_numpy(np.interp(q, np.arange(len(s) + 1) / len(s), cum))
            in_span[kind][i], profile[kind][i] = at[-1], at.diff()
            top[kind][i] = at[bins // 4] / at[-1]
    rip = torch.maximum(1 - smin.pow(2), smax.pow(2) - 1)
    return DigitSpectra(k, smin, smax, rip, noise, pair, in_span, top, profile)


class Split(NamedTuple):
    """Images (N, 28, 28) in [0, 1] and their labels."""

    images: torch.Tensor
    labels: torch.Tensor

    @property
    def flat(self) -> torch.Tensor:
        """The images as rows of pixels."""
        return self.images.reshape(len(self.images), -1)


def mnist_training(n: int) -> Split:
    """The first n MNIST training images and labels."""
    return Split(*data.load_mnist("train", slice(0, n)))


def mnist_validation(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST training images 50 000 … 50 000 + n − 1 as rows of pixels, and their labels: digits the paper's
    50 000-digit training split leaves out."""
    if not 1 <= n <= data.mnist_size("train") - 50_000:
        raise ValueError(f"need 1 ≤ n ≤ {data.mnist_size('train') - 50_000}, got {n}")
    images, labels = data.load_mnist("train", slice(50_000, 50_000 + n))
    return images.reshape(n, -1), labels


def mnist_splits(pool: int, val: int, test: int) -> dict[str, Split]:
    """The labelled pool (first MNIST training images, on which the dictionary is learned), a validation
    split (training images from 50 000 on, as the paper trains on 50 000) and the first test images."""
    n_train, n_test = data.mnist_size("train"), data.mnist_size("test")
    if pool > 50_000 or val > n_train - 50_000 or test > n_test:
        raise ValueError(f"need pool ≤ 50000, val ≤ {n_train - 50_000}, test ≤ {n_test}")
    return {"pool": Split(*data.load_mnist("train", slice(0, pool))),
            "val": Split(*data.load_mnist("train", slice(50_000, 50_000 + val))),
            "test": Split(*data.load_mnist("test", slice(0, test)))}
