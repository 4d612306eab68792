"""Figures and tables of the SDNet chapter: LASSO convergence, λ sweeps, Algorithm 1, PGD."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from scpaper import plotting, robustness, sdnet

PAPER_TOP1 = {"resnet": 95.54, "sdnet": 95.20}  # Dai, Li et al. 2022 / Zhang slides, CIFAR-10
PAPER_SPEED = {"resnet": 1600, "sdnet": 1500}  # images/s in the slides' table
PAPER_MEMORY_GB = {"resnet": 1.0, "sdnet": 1.2}
PAPER_PGD = {"linf": {"resnet": 0.01, "sdnet_lam0": 0.11, "sdnet_tuned": 35.18},
             "l2": {"resnet": 29.47, "sdnet_lam0": 29.95, "sdnet_tuned": 62.80}}  # Table 4, %
NAMES = {"resnet": "ResNet-18", "sdnet": "SDNet-18"}


def fig_lasso_gap(gap: dict, atoms: torch.Tensor, n_iter: int) -> plt.Figure:
    """Learned atoms (RGB) and distance of unrolled ISTA/FISTA codes to the certified LASSO solution."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    a = atoms.detach().cpu().double()
    a = (a - a.amin(dim=(1, 2, 3), keepdim=True)) / (a.amax(dim=(1, 2, 3), keepdim=True) - a.amin(dim=(1, 2, 3), keepdim=True)).clamp_min(1e-12)
    n = len(a)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    k = a.shape[-1]
    canvas = np.ones((rows * (k + 1) + 1, cols * (k + 1) + 1, 3))
    for i, atom in enumerate(a):
        r, c = divmod(i, cols)
        canvas[1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = atom.permute(1, 2, 0).numpy()
    ax0.imshow(canvas, interpolation="nearest")
    ax0.set_axis_off()
    ax0.set_title(f"(a) the {n} learned {k}×{k}×3 atoms")
    it = np.asarray(gap["iterations"])
    ax1.loglog(it, gap["ista_error"], "o-", label="ISTA (SDNet's code path)")
    ax1.loglog(it, gap["fista_error"], "s-", label="FISTA")
    ax1.axvline(n_iter, color="0.5", ls=":", label=f"{n_iter} steps (trained)")
    ax1.set_xlabel("unrolled steps from zero")
    ax1.set_ylabel(r"$\|c_n - c^\star\|_2 / \|c^\star\|_2$")
    ax1.set_title("(b) distance to the certified LASSO codes")
    ax1.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, sdnet.lasso_gap, fig_lasso_gap)


def fig_lambda_sweep(sweep: dict, resnet_acc: np.ndarray) -> plt.Figure:
    """Test accuracy vs test-time λ, one curve per severity, one panel per noise (slides' Fig 2)."""
    lams = np.asarray(sweep["lams"])
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), sharey=True)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, 6))
    for k, (ax, kind) in enumerate(zip(axes, sweep["kinds"])):
        for s in range(6):
            acc = 100 * sweep["acc"][k, s]
            ax.plot(lams, acc, "-", color=colors[s], label="clean" if s == 0 else f"severity {s}")
            j = int(acc.argmax())
            ax.plot(lams[j], acc[j], "*", color=colors[s], ms=11, mec="k", mew=0.5)
            ax.plot(lams[0] - 0.06, 100 * resnet_acc[k, s], "<", color=colors[s], ms=6)
        ax.set_title(f"({'abcd'[k]}) {kind} noise")
        ax.set_xlabel(r"test-time $\lambda$")
    axes[0].set_ylabel("test accuracy (%)")
    axes[-1].legend(fontsize="x-small", loc="best")
    fig.tight_layout()
    return plotting.credit(fig, robustness.corruption_sweep, fig_lambda_sweep)


def fig_algorithm1(val: dict, test: dict, alg: dict, resnet_acc: np.ndarray) -> plt.Figure:
    """Top: λ(r) fitted on validation (dots) applied to test residuals (crosses). Bottom: accuracy per severity."""
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.2))
    sev = np.arange(6)
    for k, kind in enumerate(test["kinds"]):
        ax = axes[0, k]
        a, b = alg["coef"][k]
        r = np.concatenate([val["residual"][k], test["residual"][k]])
        grid = np.linspace(r.min(), r.max(), 20)
        ax.plot(val["residual"][k], alg["lam_val"][k], "o", label=r"validation best $\lambda_c$")
        ax.plot(grid, a + b * grid, "-", color="0.3", label=r"least-squares $\lambda(r)$")
        ax.plot(test["residual"][k], alg["lam_oracle"][k], "x", ms=8, label=r"test best $\lambda$ (oracle)")
        ax.set_title(f"({'abcd'[k]}) {kind}: fit on validation")
        ax.set_xlabel("mean CSC residual $r$")
        ax = axes[1, k]
        for key, label, style in (("fixed", r"SDNet, fixed $\lambda_0$", "o-"), ("algorithm1", "SDNet, Algorithm 1", "s-"),
                                  ("oracle", r"SDNet, oracle $\lambda$ (test)", "^--")):
            ax.plot(sev, 100 * alg[key][k], style, label=label)
        ax.plot(sev, 100 * resnet_acc[k], "k:", label="ResNet-18")
        ax.set_title(f"({'efgh'[k]}) {kind}: test accuracy")
        ax.set_xlabel("severity (0 = clean)")
    axes[0, 0].set_ylabel(r"best $\lambda$")
    axes[1, 0].set_ylabel("accuracy (%)")
    axes[0, -1].legend(fontsize="x-small")
    axes[1, -1].legend(fontsize="x-small")
    fig.tight_layout()
    return plotting.credit(fig, robustness.algorithm1, fig_algorithm1)


def fig_pgd(study: dict) -> plt.Figure:
    """Robust accuracy vs test-time λ: PGD examples crafted at λ0 (non-adaptive) vs PGD at each λ (adaptive)."""
    lams = np.asarray(study["lams"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (name, title) in zip(axes, (("linf", r"(a) $L_\infty$ PGD"), ("l2", r"(b) $L_2$ PGD"))):
        s = study[name]
        ax.plot(lams, 100 * np.asarray(s["val_curve"]), "o:", label=r"validation, crafted at $\lambda_0$")
        ax.plot(lams, 100 * np.asarray(s["transfer"]), "s-", label=r"test, crafted at $\lambda_0$ (non-adaptive)")
        ax.plot(lams, 100 * np.asarray(s["adaptive"]), "^-", label=r"test, PGD at each $\lambda$ (adaptive)")
        ax.axhline(100 * s["resnet"], color="k", ls="--", label="ResNet-18")
        ax.axvline(s["tuned_lam"], color="0.5", ls=":", label=r"tuned $\lambda$ (validation)")
        ax.set_title(title)
        ax.set_xlabel(r"test-time $\lambda$")
    axes[0].set_ylabel("robust accuracy (%)")
    axes[1].legend(fontsize="x-small")
    fig.tight_layout()
    return plotting.credit(fig, robustness.pgd_study, fig_pgd)


def training_table(records: dict[str, dict], test_acc: dict[str, float], bench: dict[str, dict]) -> pd.DataFrame:
    """Slides' CIFAR-10 table beside ours, one column per network: parameters, top-1, memory, throughput ('—': not measured)."""
    rows = []
    for arch in ("resnet", "sdnet"):
        b = bench[arch]
        rows.append({"model": NAMES[arch], "params (M)": b["params"] / 1e6, "top-1 % (ours)": 100 * test_acc[arch],
                     "top-1 % (paper)": PAPER_TOP1[arch], "val top-1 %": 100 * records[arch]["val_acc"],
                     "saved activations (MB/batch)": b["saved_mb"], "peak GPU memory (MB)": b.get("peak_mb", np.nan),
                     "paper memory (GB)": PAPER_MEMORY_GB[arch], "train img/s": b["train_img_s"],
                     "inference img/s": b["infer_img_s"], "paper img/s": PAPER_SPEED[arch],
                     "training time (s)": records[arch]["seconds"]})
    return pd.DataFrame(rows).set_index("model").round(2).T.fillna("—")


def pgd_table(study: dict, attacks: dict) -> pd.DataFrame:
    """Table 4 beside ours: robust accuracy (%) of ResNet-18, SDNet-18 at λ0, tuned λ, and tuned λ under adaptive PGD.

    '—' marks what the paper does not report or what has no λ.
    """
    rows = {"ResNet-18": "resnet", "SDNet-18, λ0": "sdnet_lam0", "SDNet-18, tuned λ (non-adaptive)": "sdnet_tuned",
            "SDNet-18, tuned λ (adaptive PGD)": "sdnet_adaptive"}
    table = {}
    for name in ("linf", "l2"):
        label = "L∞ = 8/255" if name == "linf" else f"L2 = {attacks[name]['eps']:g}"
        table[f"{label}, ours"] = [100 * study[name][key] for key in rows.values()]
        table[f"{label}, paper"] = [PAPER_PGD[name].get(key, np.nan) for key in rows.values()]
        table[f"{label}, tuned λ"] = [np.nan, study["lam0"], study[name]["tuned_lam"], study[name]["tuned_lam"]]
    return pd.DataFrame(table, index=list(rows)).round(2).fillna("—")
