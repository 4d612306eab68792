"""Figures of the Res-CSC, MSD-CSC and unrolled ML-ISTA section (chapter 3b)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from scpaper import mlista, msdcsc, rescsc
from scpaper.plotting import credit

SLIDES_MNIST = {"cnn": 98.74, "ista": 99.11, "fista": 99.16, "lbp": 99.19}
LABELS = {"cnn": "CNN (T = 0)", "ista": "ML-ISTA", "fista": "ML-FISTA", "lbp": "layered BP"}


def equivalence_figure(res: tuple[torch.Tensor, torch.Tensor], msd: tuple[torch.Tensor, torch.Tensor]) -> plt.Figure:
    """Scatter of network-layer outputs against the CSC steps they map to, with the largest difference."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    titles = ("residual block vs Res-CSC step (eq 3)", "MSDNet layer vs MSD-CSC step")
    for ax, (net, csc), title in zip(axes, (res, msd), titles):
        a, b = net.flatten().numpy(), csc.flatten().numpy()
        ax.plot(b, a, ".", ms=2, alpha=0.4)
        ax.plot([0, b.max()], [0, b.max()], "k--", lw=0.8)
        ax.set(xlabel="CSC step output", ylabel="network layer output", title=title)
        ax.text(0.05, 0.9, f"max |diff| = {np.abs(a - b).max():.1e}", transform=ax.transAxes)
    fig.tight_layout()
    return credit(fig, rescsc.random_block_outputs, msdcsc.random_layer_outputs)


def depth_figure(sweep: dict[str, list]) -> plt.Figure:
    """Test accuracy of plain ML-CSC and Res-CSC nets against depth."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(sweep["depth"], 100 * np.array(sweep["plain"]), "o-", label="plain ML-CSC (Γ⁰ = 0)")
    ax.plot(sweep["depth"], 100 * np.array(sweep["res"]), "s-", label="Res-CSC (Γ⁰ = X₋₁)")
    ax.axhline(10, color="0.6", ls=":", label="chance")
    ax.set(xlabel="number of sparse-coding layers", ylabel="test accuracy (%)", xticks=sweep["depth"])
    ax.legend()
    fig.tight_layout()
    return credit(fig, rescsc.depth_sweep)


def msd_figure(unfold: dict[str, list], lasso: dict[str, list]) -> plt.Figure:
    """Left: per-layer LASSO reconstruction error, MSD-CSC vs ML-CSC; right: accuracy vs ISTA steps per layer."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    layers = np.array(lasso["layer"])
    left.bar(layers - 0.2, lasso["ml_error"], 0.4, label="ML-CSC: Dᵢ = Fᵢᵀ")
    left.bar(layers + 0.2, lasso["msd_error"], 0.4, label="MSD-CSC: Dᵢ = [I Fᵢᵀ]")
    left.set(xlabel="layer i", ylabel="‖Γᵢ₋₁ − DᵢΓ̂ᵢ‖² / ‖Γᵢ₋₁‖²", title="per-layer LASSO reconstruction", xticks=layers,
             yscale="log")
    left.legend(fontsize="small")
    right.plot(unfold["n_iter"], 100 * np.array(unfold["accuracy"]), "o-")
    right.set(xlabel="ISTA steps per layer (0 = MSDNet)", ylabel="test accuracy (%)", title="unfolded MSD-CSC",
              xticks=unfold["n_iter"])
    fig.tight_layout()
    return credit(fig, msdcsc.layer_lasso_comparison, msdcsc.unfolding_sweep)


def mlista_figure(rows: list[dict]) -> plt.Figure:
    """Left: MNIST accuracy vs unrollings T per pursuit; right: accuracy vs parameter count, with the CNN widened."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    base = [r for r in rows if r["width_scale"] == 1.0]
    cnn = next(r for r in base if r["mode"] == "cnn")
    for mode in mlista.MODES:
        pts = [cnn] + sorted((r for r in base if r["mode"] == mode), key=lambda r: r["T"])
        left.plot([r["T"] for r in pts], [100 * r["accuracy"] for r in pts], "o-", label=LABELS[mode])
    left.set(xlabel="unrolled iterations T", ylabel="test accuracy (%)", title="accuracy vs T (same parameters)",
             xticks=sorted({r["T"] for r in base}))
    left.legend(fontsize="small")
    cnns = sorted((r for r in rows if r["mode"] == "cnn"), key=lambda r: r["parameters"])
    right.plot([r["parameters"] for r in cnns], [100 * r["accuracy"] for r in cnns], "k^-", label="CNN, widths ×1, ×2")
    best = max((r for r in base if r["mode"] != "cnn"), key=lambda r: r["T"])
    for mode in mlista.MODES:
        r = next(r for r in base if r["mode"] == mode and r["T"] == best["T"])
        right.plot(r["parameters"], 100 * r["accuracy"], "o", label=f"{LABELS[mode]}, T = {r['T']}")
    right.set(xlabel="trainable parameters", ylabel="test accuracy (%)", title="accuracy vs parameters", xscale="log")
    right.legend(fontsize="small")
    fig.tight_layout()
    return credit(fig, mlista.unrolled_sweep)
