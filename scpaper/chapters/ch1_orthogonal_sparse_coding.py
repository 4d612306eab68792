"""Chapter 1's experiments and figures: orthogonal sparse coding (Bowren Figs 1–5 and the checks beside them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from scpaper import dictionary, lasso, orthogonal, thresholds
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.data import NATURAL_IMAGES
from scpaper.data.natural_images import load_natural_images
from scpaper.whitening import sample_patches, whiten

learn = cached()(orthogonal.learn)
ica_basis = cached()(orthogonal.ica_basis)
learn_standard = cached()(dictionary.learn)


def _samples(ax: plt.Axes, u: torch.Tensor, a: torch.Tensor, every: int = 7) -> None:
    """Scatter exact solver codes a against their x-coordinates u (a thinned sample)."""
    ax.scatter(u.reshape(-1)[::every], a.reshape(-1)[::every], s=6, color="C1", alpha=0.5, zorder=3,
               label="exact lasso codes (certified)")


def soft_threshold(lam: float, generator: torch.Generator) -> plt.Figure:
    """Fig 1: the soft threshold S_λ(Φᵢᵀi) with exact lasso codes of a random orthonormal Φ on top."""
    u, exact, _ = orthogonal.solver_samples(32, 32, lam, 40, generator=generator)
    grid = torch.linspace(-4 * lam, 4 * lam, 401, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(5.2, 4))
    ax.plot(grid, thresholds.soft(grid, lam), color="C0", lw=2, label=r"$S_\lambda(\Phi_i^T\mathbf{i})$ (eq 14)")
    keep = u.abs() < 4 * lam
    _samples(ax, u[keep], exact.codes[keep], every=1)
    for x in (-lam, lam):
        ax.axvline(x, color="0.6", ls=":", lw=1)
    ax.set(xlabel=r"$\Phi_i^T\mathbf{i}$", ylabel=r"$\hat a_i$", title=f"soft threshold, λ = {lam:g}")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, soft_threshold, orthogonal.solver_samples)


def nonneg_vs_relu(lam: float, generator: torch.Generator) -> plt.Figure:
    """Fig 4: the non-negative soft threshold of Φᵢᵀi (with exact non-negative lasso codes) beside ReLU(wᵢᵀi + b)."""
    u, exact, _ = orthogonal.solver_samples(32, 32, lam, 40, nonneg=True, generator=generator)
    grid = torch.linspace(-4 * lam, 4 * lam, 401, dtype=torch.float64)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), sharey=True)
    left.plot(grid, thresholds.soft_nonneg(grid, lam), lw=2, label=r"$h_\lambda(\Phi_i^T\mathbf{i})$ (eq 33)")
    keep = u.abs() < 4 * lam
    _samples(left, u[keep], exact.codes[keep], every=1)
    left.set(xlabel=r"$\Phi_i^T\mathbf{i}$", ylabel="output", title=f"non-negative orthogonal SC, λ = {lam:g}")
    for b, style in ((0.0, "-"), (-lam, "--")):
        right.plot(grid, torch.relu(grid + b), ls=style, lw=2, label=f"ReLU($w_i^T$i + b), b = {b:g}")
    right.set(xlabel=r"$w_i^T\mathbf{i}$", title="ReLU unit of a CNN")
    for ax in (left, right):
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, nonneg_vs_relu, orthogonal.solver_samples)


def relu_per_atom(lam: float, generator: torch.Generator) -> plt.Figure:
    """Fig 5: exact non-negative lasso codes with one λᵢ per atom against Φᵢᵀi − λᵢ fall on ReLU."""
    u, exact, lam_v = orthogonal.solver_samples(32, 32, lam, 40, nonneg=True, per_atom=True, generator=generator)
    shifted = u - lam_v
    grid = torch.linspace(-4 * lam, 4 * lam, 401, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(5.2, 4))
    ax.plot(grid, torch.relu(grid), lw=2, label=r"ReLU$(\Phi_i^T\mathbf{i} - \lambda_i)$ (eq 45)")
    keep = shifted.abs() < 4 * lam
    _samples(ax, shifted[keep], exact.codes[keep], every=1)
    ax.set(xlabel=r"$\Phi_i^T\mathbf{i} - \lambda_i$", ylabel=r"$\hat a_i$",
           title=f"one λᵢ per atom, λᵢ uniform in [0, {2 * lam:g}]")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, relu_per_atom, orthogonal.solver_samples)


def _sorted_grid(ax: plt.Axes, atoms: torch.Tensor, title: str) -> None:
    """Atoms (columns, 12×12) drawn from smoothest to most high-frequency."""
    order = torch.argsort(orthogonal.high_frequency_share(atoms, (12, 12)))
    plotting.tile_grid(ax, atoms.T[order], (12, 12))
    ax.set_title(title)


def bases(panels: dict[str, torch.Tensor]) -> plt.Figure:
    """Fig 2: basis grids side by side (title → dim × n_atoms atoms), each sorted by high-frequency share."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6))
    for ax, (title, atoms) in zip(np.atleast_1d(axes), panels.items()):
        _sorted_grid(ax, atoms, title)
    fig.tight_layout()
    return plotting.credit(fig, bases, orthogonal.high_frequency_share)


def sizes(learned: dict[int, torch.Tensor], counts: pd.DataFrame) -> plt.Figure:
    """Fig 3: orthogonal bases of each size (sorted by high-frequency share) and the count of
    high-frequency atoms per size."""
    n = len(learned)
    fig = plt.figure(figsize=(2.6 * n, 5.6))
    grid = fig.add_gridspec(2, n, height_ratios=(1, 1.1))
    for i, (n_atoms, atoms) in enumerate(learned.items()):
        row = counts.set_index("n_atoms").loc[n_atoms]
        _sorted_grid(fig.add_subplot(grid[0, i]), atoms, f"{n_atoms} atoms, {int(row.high_frequency)} HF")
    ax = fig.add_subplot(grid[1, :])
    ax.plot(counts.n_atoms, counts.n_atoms - counts.high_frequency, "o-", label="low-frequency atoms")
    ax.plot(counts.n_atoms, counts.high_frequency, "s-", label="high-frequency atoms")
    dim = int(counts.dim.iloc[0])
    ax.axvline(dim / 2, color="0.5", ls=":", label="half the input dimension")
    ax.set(xlabel="number of atoms", ylabel="count", xticks=counts.n_atoms.tolist())
    ax.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, sizes, orthogonal.high_frequency_share)


def ridge(table: pd.DataFrame, marks: dict[str, dict[str, float]]) -> plt.Figure:
    """Ridge (eq 76) vs its orthogonal form (eq 78) as mutual coherence grows; marks are named extra points."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharex=True)
    for ax, column, label in zip(axes, ("matrix_error", "code_error"),
                                 (r"$(1+\lambda)\,\|(\Phi^T\Phi+\lambda I)^{-1} - I/(1+\lambda)\|_2$",
                                  r"$\|\hat a - \Phi^T\mathbf{i}/(1+\lambda)\| / \|\hat a\|$ on patches")):
        ax.scatter(table.mu, table[column], s=12, label="orthonormal → Gaussian atoms")
        for i, (name, point) in enumerate(marks.items()):
            ax.scatter([point["mu"]], [point[column]], marker="*", s=150, color=f"C{i + 1}", zorder=3, label=name)
        ax.set(xlabel=r"mutual coherence $\mu(\Phi)$", ylabel=label)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, ridge, orthogonal.ridge_gap)


def training(curves: dict[str, orthogonal.Learned]) -> plt.Figure:
    """Eq 15 on held-out patches during learning, one curve per run (label → Learned)."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    stable = torch.cat([run.objective for run in curves.values() if torch.isfinite(run.objective).all()])
    for label, run in curves.items():
        finite = torch.isfinite(run.objective)
        ax.plot(run.steps[finite], run.objective[finite], label=label + ("" if finite.all() else " (diverged: NaN)"))
    span = float(stable.max() - stable.min())
    ax.set(xlabel="gradient step", ylabel="eq 15 per patch (held out)",
           ylim=(float(stable.min()) - 0.05 * span, float(stable.max()) + 0.25 * span))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, training, orthogonal.learn)


@cached(data=NATURAL_IMAGES)
def whitened_patches(n: int, size: int = 12, seed: int = 0, f0: float = 0.4, variance: float = 0.1) -> torch.Tensor:
    """n random size×size patches (float32 rows) of the van Hateren and Kodak photographs, each photograph
    whitened with the Olshausen–Field filter (cut-off f0) and scaled to zero mean and the given variance."""
    images = [whiten(im, f0, variance) for source in ("vanhateren", "kodak")
              for im in load_natural_images(source)]
    return sample_patches(images, size, n, np.random.default_rng(seed)).float()


def standard_basis(X: torch.Tensor, X_eval: torch.Tensor, n_atoms: int, lam: float, *, steps: int, seed: int = 0,
                   device: torch.device | str = "cpu") -> orthogonal.Standard:
    """Unit-norm atoms learned by scpaper.dictionary.learn, then eq 1 per patch on X_eval with exact
    (certified active-set) codes, and the certified fraction of those codes."""
    atoms = learn_standard(X, n_atoms, lam, steps=steps, seed=seed, device=device, progress=False).atoms.double()
    exact = lasso.solve(atoms, X_eval.double(), lam)
    return orthogonal.Standard(atoms, dictionary.objective(atoms, X_eval.double(), exact.codes, lam), exact.certified_fraction)
