"""Chapter 1's experiments and figures: orthogonal sparse coding (Bowren Figs 1–5 and the checks beside them)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from scpaper import dictionary, lasso, orthogonal, thresholds
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.data import NATURAL_IMAGES
from scpaper.data.natural_images import load_natural_images
from scpaper.whitening import sample_patches, whiten

HF_SHARE = 0.9  # the old criterion, kept as a secondary column: > 90 % of power above half Nyquist
BEYOND_SHARE = 0.5  # an atom lies mostly beyond the whitening band when > 50 % of its power is beyond f0

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


def _sorted_grid(ax: plt.Axes, atoms: torch.Tensor, table: pd.DataFrame, title: str) -> None:
    """Atoms (columns, 12×12) drawn from the largest share of code energy to the smallest; unused atoms last."""
    order = torch.from_numpy(np.argsort(-table.energy_share.to_numpy(), kind="stable").copy())
    plotting.tile_grid(ax, atoms.T[order], (12, 12))
    ax.set_title(title)


def bases(panels: dict[str, tuple[torch.Tensor, pd.DataFrame]]) -> plt.Figure:
    """Fig 2: basis grids side by side (title → (dim × n_atoms atoms, usage table)), each sorted by code energy."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.8))
    for ax, (title, (atoms, table)) in zip(np.atleast_1d(axes), panels.items()):
        _sorted_grid(ax, atoms, table, f"{title}\n{int((~table.used).sum())} unused atoms")
    fig.tight_layout()
    return plotting.credit(fig, bases, orthogonal.code_energy_share)


def sizes(first: dict[int, tuple[torch.Tensor, pd.DataFrame]], table: pd.DataFrame, band: int) -> plt.Figure:
    """Fig 3: orthogonal bases of each size (first seed, sorted by code energy) and used / unused atoms per size
    (every seed), beside the number of frequencies inside the whitening band."""
    n = len(first)
    fig = plt.figure(figsize=(2.3 * n, 5.6))
    grid = fig.add_gridspec(2, n, height_ratios=(1, 1.1))
    for i, (n_atoms, (atoms, usage_table)) in enumerate(first.items()):
        _sorted_grid(fig.add_subplot(grid[0, i]), atoms, usage_table, f"{n_atoms}: {int((~usage_table.used).sum())} unused")
    ax = fig.add_subplot(grid[1, :])
    ax.plot(table.n_atoms, table.used, "o", alpha=0.7, label="used atoms (code energy)")
    ax.plot(table.n_atoms, table.unused, "s", alpha=0.7, label="unused atoms")
    ax.plot(table.n_atoms, table.hf_old, "x", color="0.4", label=f"HF share > {HF_SHARE:g} (old criterion)")
    ax.axhline(band, color="k", ls=":", label="frequencies inside the whitening band")
    dim = int(table.n_atoms.max())
    ax.axvline(dim / 2, color="0.5", ls="--", lw=0.8, label="half the input dimension")
    ax.set(xlabel="number of atoms", ylabel="count", xticks=sorted(table.n_atoms.unique().tolist()))
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return plotting.credit(fig, sizes, size_sweep, orthogonal.code_energy_share)


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
    """n random size×size patches (float32 rows) of the van Hateren and Kodak photographs (both linear
    luminance), each photograph whitened with the Olshausen–Field filter (cut-off f0) and scaled to zero
    mean and the given variance."""
    images = [whiten(im, f0, variance) for source in ("vanhateren", "kodak") for im in load_natural_images(source)]
    return sample_patches(images, size, n, np.random.default_rng(seed)).float()


def standard_basis(X: torch.Tensor, X_eval: torch.Tensor, n_atoms: int, lam: float, *, steps: int, seed: int = 0,
                   device: torch.device | str = "cpu") -> orthogonal.Standard:
    """Unit-norm atoms learned by scpaper.dictionary.learn, then eq 1 per patch on X_eval with exact
    (certified active-set) codes, and the certified fraction of those codes."""
    atoms = learn_standard(X, n_atoms, lam, steps=steps, seed=seed, device=device, progress=False).atoms.double()
    exact = lasso.solve(atoms, X_eval.double(), lam)
    return orthogonal.Standard(atoms, dictionary.objective(atoms, X_eval.double(), exact.codes, lam), exact.certified_fraction,
                               exact.codes)


def usage(atoms: torch.Tensor, codes: torch.Tensor, floor: float, shape: tuple[int, int], f0: float,
          removal: torch.Tensor | None = None) -> pd.DataFrame:
    """Per atom: share of code energy on held-out patches (codes: patches × atoms), whether it is used
    (share ≥ floor / n_atoms), the objective increase when removed (orthonormal bases only), and the
    spectral columns kept for comparison: power share above half Nyquist and beyond f0."""
    share = orthogonal.code_energy_share(codes)
    return pd.DataFrame({"energy_share": share.numpy(), "used": (share >= floor / atoms.shape[1]).numpy(),
                         "removal_increase": np.nan if removal is None else removal.numpy(),
                         "hf_share": orthogonal.high_frequency_share(atoms, shape).numpy(),
                         "beyond_f0": orthogonal.high_frequency_share(atoms, shape, f0).numpy()})


def usage_summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per basis: atoms, unused atoms (code-energy criterion), and the old high-frequency count."""
    return pd.DataFrame([{"basis": name, "atoms": len(t), "unused": int((~t.used).sum()),
                          "unused share of energy": float(t.energy_share[~t.used].sum()),
                          "HF (old criterion)": int((t.hf_share > HF_SHARE).sum()),
                          "HF atoms that are used": int(((t.hf_share > HF_SHARE) & t.used).sum()),
                          "mostly beyond f0": int((t.beyond_f0 > BEYOND_SHARE).sum())} for name, t in tables.items()]).set_index("basis")


def orthogonal_usage(atoms: torch.Tensor, X_eval: torch.Tensor, lam: float, floor: float, shape: tuple[int, int],
                     f0: float) -> pd.DataFrame:
    """usage() of an orthonormal basis with its closed-form codes S_λ(Φᵀx) and removal increases."""
    codes = orthogonal.codes(atoms, X_eval.double(), lam)
    return usage(atoms, codes, floor, shape, f0, orthogonal.removal_increase(atoms, X_eval, lam))


def size_sweep(X: torch.Tensor, X_eval: torch.Tensor, sizes: list[int], lam: float, seeds: list[int], floor: float,
               f0: float, **learn_args) -> tuple[pd.DataFrame, dict[int, tuple[torch.Tensor, pd.DataFrame]]]:
    """Orthogonal SC for every size and seed: used and unused atoms (code energy), old HF count, atoms beyond f0.
    Returns the table and, per size, the first seed's atoms and usage table."""
    shape = (int(X.shape[1] ** 0.5),) * 2
    rows, first = [], {}
    for n in tqdm(sizes, desc="basis sizes", leave=False):
        for s in seeds:
            atoms = learn(X, X_eval, n, lam, seed=s, progress=False, **learn_args).atoms
            t = orthogonal_usage(atoms, X_eval, lam, floor, shape, f0)
            first.setdefault(n, (atoms, t))
            rows.append({"n_atoms": n, "seed": s, "used": int(t.used.sum()), "unused": int((~t.used).sum()),
                         "hf_old": int((t.hf_share > HF_SHARE).sum()), "beyond_f0": int((t.beyond_f0 > BEYOND_SHARE).sum())})
    return pd.DataFrame(rows), first


def lam_sweep(X: torch.Tensor, X_eval: torch.Tensor, lams: list[float], seeds: list[int], floor: float, f0: float,
              eig_factor: float, **learn_args) -> pd.DataFrame:
    """Complete orthogonal bases for every λ and seed: used atoms beside the two predictions, the number of
    covariance eigenvalues above eig_factor·λ² (λ explains it) and the frequencies inside the whitening band."""
    dim = X.shape[1]
    shape = (int(dim ** 0.5),) * 2
    band = orthogonal.band_count(shape, f0)
    rows = []
    for lam in tqdm(lams, desc="λ sweep", leave=False):
        eig = orthogonal.eigen_count(X, eig_factor * lam**2)
        for s in seeds:
            atoms = learn(X, X_eval, dim, lam, seed=s, progress=False, **learn_args).atoms
            used = int(orthogonal_usage(atoms, X_eval, lam, floor, shape, f0).used.sum())
            rows.append({"lam": lam, "seed": s, "used": used, "eigen_above": eig, "band": band,
                         "error_eigen": abs(used - eig), "error_band": abs(used - band)})
    return pd.DataFrame(rows)


def explanations(table: pd.DataFrame) -> plt.Figure:
    """Used atoms of complete orthogonal bases against λ, beside the two predictions (eigenvalues, band)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.plot(table.lam, table.used, "o", alpha=0.7, label="used atoms (each seed)")
    by = table.groupby("lam").first().reset_index()
    ax.plot(by.lam, by.eigen_above, "s--", label="covariance eigenvalues > λ²")
    ax.plot(by.lam, by.band, "k:", label="frequencies inside the whitening band")
    ax.set(xscale="log", xlabel="λ", ylabel="atoms", xticks=by.lam.tolist(), xticklabels=[f"{v:g}" for v in by.lam])
    ax.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, explanations, lam_sweep, orthogonal.code_energy_share)


def lasso_vs_coherence(table: pd.DataFrame, marks: dict[str, tuple[float, float]]) -> plt.Figure:
    """Relative error of S_λ(Φᵀx) against certified lasso codes as coherence grows; marks: name → (μ, error)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.scatter(table.mu, table.code_error, s=14, label="orthonormal → Gaussian atoms")
    for i, (name, (mu, err)) in enumerate(marks.items()):
        ax.scatter([mu], [err], marker="*", s=150, color=f"C{i + 1}", zorder=3, label=name)
    ax.set(xlabel=r"mutual coherence $\mu(\Phi)$", ylabel=r"$\|S_\lambda(\Phi^T\mathbf{i}) - \hat a\| / \|\hat a\|$")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, lasso_vs_coherence, orthogonal.lasso_gap)
