"""Chapter 4's experiments and figures: sensitivity of sparse codes (Luther & Seung Figs 1–7)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from scpaper import classifiers, dictionary, features, sensitivity
from scpaper.book import intervals, plotting
from scpaper.book.cache import cached
from scpaper.book.intervals import Interval
from scpaper.data import MNIST, load_mnist, mnist_size

exact_codes = cached()(sensitivity.exact_codes)
train_mlp = cached()(features.train_mlp)
evaluate = cached()(classifiers.evaluate)
learn = cached()(dictionary.learn)

COLOURS = dict(zip(sensitivity.KINDS, sns.color_palette(plotting.PALETTE, 3)))


def _image(ax: plt.Axes, v: torch.Tensor, title: str, symmetric: bool = True) -> None:
    """Show a 784-vector as a 28 × 28 image with a symmetric grey scale."""
    a = v.detach().double().reshape(28, 28).numpy()
    m = np.abs(a).max() or 1.0
    ax.imshow(a, cmap="gray", vmin=-m if symmetric else 0, vmax=m)
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()


def _histograms(ax: plt.Axes, gains: dict[str, torch.Tensor], title: str, output: str = "r") -> None:
    """Overlaid histograms of ‖Δoutput‖/‖Δx‖ for each kind of perturbation, on a log axis."""
    values = torch.cat(list(gains.values())).clamp_min(1e-6).log10()
    bins = np.linspace(float(values.min()), float(values.max()), 40)
    for kind, g in gains.items():
        ax.hist(g.clamp_min(1e-6).log10().numpy(), bins=bins, alpha=0.55, color=COLOURS[kind],
                label=f"{kind} (median {g.median():.3g})")
    ax.set_xlabel(f"log₁₀ ‖Δ{output}‖/‖Δx‖")
    ax.set_title(title)
    ax.legend(fontsize=7)


def sensitivity_figure(image: torch.Tensor, directions: dict[str, torch.Tensor], code_gains: dict[str, torch.Tensor],
                       hidden_gains: dict[str, torch.Tensor], lam: float) -> plt.Figure:
    """Fig 1: an image and its three perturbations; sensitivity histograms of sparse codes and of the MLP."""
    fig = plt.figure(figsize=(10, 5.2))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1.6])
    _image(fig.add_subplot(grid[0, 0]), image.reshape(-1), "image x", symmetric=False)
    for i, kind in enumerate(sensitivity.KINDS):
        _image(fig.add_subplot(grid[0, i + 1]), directions[kind], f"Δx: {kind}")
    _histograms(fig.add_subplot(grid[1, :2]), code_gains, f"sparse code, λ = {lam:g}")
    _histograms(fig.add_subplot(grid[1, 2:]), hidden_gains, "hidden layer of the trained MLP", output="h")
    fig.tight_layout()
    return plotting.credit(fig, sensitivity.code_gains, sensitivity.hidden_gains, sensitivity_figure)


def sensitivity_by_lam(gains: dict[float, dict[str, torch.Tensor]]) -> plt.Figure:
    """Fig 6: the sparse-code sensitivity histograms for every λ."""
    fig, axes = plt.subplots(1, len(gains), figsize=(3.4 * len(gains), 3.2), squeeze=False)
    for ax, (lam, g) in zip(axes[0], gains.items()):
        _histograms(ax, g, f"λ = {lam:g}")
    fig.tight_layout()
    return plotting.credit(fig, sensitivity.code_gains, sensitivity_by_lam)


def dictionaries_figure(atoms: dict[float, torch.Tensor], active: dict[float, float], show: int = 49) -> plt.Figure:
    """Fig 5: the first `show` atoms of each dictionary and the fraction of active units per λ."""
    n = len(atoms)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.6 * (n + 1), 2.9), gridspec_kw={"width_ratios": [1] * n + [1.2]})
    for ax, (lam, D) in zip(axes, atoms.items()):
        plotting.tile_grid(ax, D.T[:show], (28, 28))
        ax.set_title(f"λ = {lam:g}")
    axes[-1].bar([f"{lam:g}" for lam in active], list(active.values()))
    axes[-1].set_yscale("log")
    axes[-1].set_xlabel("λ")
    axes[-1].set_title("fraction of active units")
    fig.tight_layout()
    return plotting.credit(fig, dictionary.learn, dictionaries_figure)


def overlaps_figure(D: torch.Tensor, x: torch.Tensor, code: torch.Tensor, ov: sensitivity.Overlaps) -> plt.Figure:
    """Fig 2: a digit, its reconstruction and strongest atoms; overlaps of all active pairs; the top pairs."""
    pairs = len(ov.pairs)
    fig = plt.figure(figsize=(10, 6.5))
    grid = fig.add_gridspec(4, max(pairs, 7))
    _image(fig.add_subplot(grid[0, 0]), x.reshape(-1), "digit", symmetric=False)
    _image(fig.add_subplot(grid[0, 1]), D @ code.to(D.dtype), f"Dr ({len(ov.active)} atoms)", symmetric=False)
    for i, a in enumerate(ov.active[:5].tolist()):
        _image(fig.add_subplot(grid[0, 2 + i]), D[:, a], f"r={code[a]:.2f}")
    ax = fig.add_subplot(grid[1, :])
    ax.hist(ov.overlaps.numpy(), bins=60, color="0.4")
    ax.set_yscale("log")
    ax.set_xlabel("overlap dₐ·d_b of active atoms")
    for j, (a, b) in enumerate(ov.pairs.tolist()):
        _image(fig.add_subplot(grid[2, j]), D[:, a], f"{ov.top[j]:.2f}")
        _image(fig.add_subplot(grid[3, j]), D[:, a] - D[:, b], "dₐ − d_b")
    fig.tight_layout()
    return plotting.credit(fig, sensitivity.overlaps, overlaps_figure)


def spectrum_figure(spec: sensitivity.Spectrum, x: torch.Tensor, examples: dict[str, torch.Tensor],
                    spectra: sensitivity.DigitSpectra, show: int = 40) -> plt.Figure:
    """Fig 3: one digit's singular vectors by decreasing gain and example overlaps; power per singular
    direction averaged over many digits (each digit's own SVD), raw and as a share of the in-span power."""
    fig = plt.figure(figsize=(11, 8.5))
    grid = fig.add_gridspec(3, 4, height_ratios=[1.4, 1, 1.3])
    ax = fig.add_subplot(grid[0, :3])
    picks = np.unique(np.linspace(0, len(spec.gains) - 1, show).round().astype(int))
    plotting.tile_grid(ax, spec.vectors.T[picks], (28, 28), ncols=len(picks) // 2 + len(picks) % 2)
    ax.set_title(f"singular vectors of D₊, gain 1/σ from {spec.gains[0]:.3g} (top left) to {spec.gains[-1]:.3g}")
    _image(fig.add_subplot(grid[0, 3]), x.reshape(-1), "digit", symmetric=False)
    for i, (kind, v) in enumerate(examples.items()):
        _image(fig.add_subplot(grid[1, i]), v, f"Δx: {kind}")
    ax = fig.add_subplot(grid[1, 3])
    for kind, v in examples.items():
        ax.plot(sensitivity.overlap_spectrum(spec, v[None])[0].numpy(), color=COLOURS[kind], lw=0.8)
    ax.set_title("overlap of the examples", fontsize=8)
    ok = ~spectra.active.isnan()
    bins = spectra.profile[sensitivity.KINDS[0]].shape[1]
    centre = (np.arange(bins) + 0.5) / bins
    for j, normalised in enumerate((False, True)):
        ax = fig.add_subplot(grid[2, 2 * j:2 * j + 2])
        for kind, prof in spectra.profile.items():
            p = prof[ok] / spectra.in_span[kind][ok, None] if normalised else prof[ok]
            ax.plot(centre, p.mean(0).numpy(), color=COLOURS[kind], marker="o", ms=3,
                    label=f"{kind} ({spectra.in_span[kind][ok].mean():.0%} of power in span D₊)")
        ax.set_xlabel("singular direction, relative rank by decreasing gain")
        ax.set_ylabel("share of in-span power" if normalised else "power (unit Δx)")
        ax.set_yscale("log")
        ax.set_title(f"mean over {int(ok.sum())} digits" + (", normalised by the in-span power" if normalised else ""), fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return plotting.credit(fig, sensitivity.spectrum, sensitivity.digit_spectra, spectrum_figure)


def rip_figure(spectra: sensitivity.DigitSpectra) -> plt.Figure:
    """§5.3: the restricted isometry constant δ of each digit's active dictionary against √2 − 1, and the
    largest gain 1/σ* against eq 5's largest pair gain."""
    ok = ~spectra.active.isnan()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].hist(spectra.rip[ok].numpy(), bins=40, color="0.4")
    axes[0].axvline(sensitivity.RIP_BOUND, color="C3", ls="--", label="√2 − 1")
    axes[0].set_xlabel("δ = max(1 − σ²_min, σ²_max − 1) of D₊")
    axes[0].legend(fontsize=7)
    axes[1].scatter(spectra.pair_gain[ok].numpy(), (1 / spectra.sigma_min[ok]).numpy(), s=4, alpha=0.5)
    top = float((1 / spectra.sigma_min[ok]).max())
    axes[1].plot([1, top], [1, top], color="0.3", ls="--", lw=0.8, label="equal")
    axes[1].set_xscale("log")
    axes[1].set_yscale("log")
    axes[1].set_xlabel("largest pair gain 1/√(1 − max |dₐ·d_b|) (eq 5)")
    axes[1].set_ylabel("largest gain 1/σ*")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return plotting.credit(fig, sensitivity.digit_spectra, rip_figure)


def supervised_figure(results: pd.DataFrame, title: str = "") -> plt.Figure:
    """Figs 4 and 7: test accuracy against labels per class for each representation and classifier."""
    order = list(dict.fromkeys(results["representation"]))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, clf in zip(axes, ["1-NN euclidean", "1-NN cosine", "logistic"]):
        sns.lineplot(results[results.classifier == clf], x="k", y="accuracy", hue="representation", hue_order=order,
                     marker="o", errorbar=("pi", 100), ax=ax, legend=clf == "logistic")
        ax.set_xscale("log")
        ax.set_xlabel("labels per class")
        ax.set_title(f"{clf} {title}".strip())
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return plotting.credit(fig, classifiers.evaluate, supervised_figure)


def compare(representations: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
            labels: tuple[torch.Tensor, torch.Tensor, torch.Tensor], ks: tuple[int, ...], seeds: int,
            weight_decays: tuple[float, ...], device: torch.device | str = "cpu") -> pd.DataFrame:
    """evaluate() for each named representation (pool, validation, test features), stacked with its name."""
    tables = [evaluate(*(t for pair in zip(feats, labels) for t in pair), tuple(ks), seeds, tuple(weight_decays), device)
              .assign(representation=name) for name, feats in representations.items()]
    return pd.concat(tables, ignore_index=True)


def fraction(holds: torch.Tensor | np.ndarray) -> Interval:
    """The fraction of digits on which a paired comparison holds, with its bootstrap interval over digits."""
    return intervals.mean(np.asarray(holds, dtype=np.float64))


def steps(values: dict[float, torch.Tensor]) -> dict[str, Interval]:
    """Paired differences value(λᵢ) − value(λᵢ₊₁) over the same items for consecutive λ, by 'λᵢ→λᵢ₊₁'."""
    lams = sorted(values)
    return {f"{a:g}→{b:g}": intervals.paired_difference(values[a].numpy(), values[b].numpy()) for a, b in zip(lams, lams[1:])}


def head(split: sensitivity.Split, n: int) -> sensitivity.Split:
    """The first n images of a split and their labels."""
    return sensitivity.Split(split.images[:n], split.labels[:n])


def standardise(X: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """(x − mean)/std per pixel: the usual MNIST standardisation."""
    return (X.float() - mean) / std


def mlp_correct(model: torch.nn.Sequential, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-image 0/1 correctness of a classifier net on the rows of X."""
    with torch.no_grad():
        return (model(X.float()).argmax(1) == y).numpy().astype(np.float64)


def mnist_images(n: int, offset: int = 0) -> torch.Tensor:
    """The MNIST training images offset … offset+n−1 as rows of 784 pixels in [0, 1]."""
    if n < 1 or offset < 0 or offset + n > mnist_size("train"):
        raise ValueError(f"need 1 ≤ n and offset + n ≤ {mnist_size('train')}, got n={n}, offset={offset}")
    return load_mnist("train", slice(offset, offset + n))[0].reshape(n, -1)


def starting_digits(n_images: int, n_atoms: int, seed: int = 0) -> torch.Tensor:
    """The training digits (columns, 784 × n_atoms) that mnist_dictionary(from_images=True) starts its atoms from."""
    lo = n_images if 50_000 - n_images >= n_atoms else 0
    pick = lo + torch.randperm(50_000 - lo, generator=torch.Generator().manual_seed(seed))[:n_atoms]
    return mnist_images(50_000)[pick].T


def kept_cosine(D: torch.Tensor, start: torch.Tensor) -> float:
    """Median cosine between each atom (column of D) and the column of start it was learned from."""
    unit = lambda A: torch.nn.functional.normalize(A.double(), dim=0)  # noqa: E731
    return (unit(D) * unit(start)).sum(0).median().item()


@cached(data=MNIST)
def mnist_dictionary(lam: float, n_images: int, n_atoms: int, steps: int, code_steps: int = 1, seed: int = 0,
                     from_images: bool = False, device: torch.device | str = "cpu", tol: float = 0.0) -> dictionary.Learned:
    """A dictionary learned on the first n_images MNIST training images (Luther & Seung, §2.1).

    from_images: start from n_atoms distinct training images scaled to unit norm, with zero codes, instead
    of the paper's N(0, 1) atoms and codes; the images come from outside the first n_images when the first
    50 000 (the paper's training split) leave room, so no training digit starts as its own atom. tol > 0:
    stop at the objective's plateau (dictionary.learn's stopping rule) instead of after all `steps`.
    """
    X = mnist_images(n_images)
    init = starting_digits(n_images, n_atoms, seed) if from_images else None
    return learn(X, n_atoms, lam, steps=steps, code_steps=code_steps, seed=seed, init=init, zero_codes=from_images,
                 device=device, tol=tol)
