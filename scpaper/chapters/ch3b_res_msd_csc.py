"""Chapter 3b's experiments and figures: Res-CSC depth, MSD-CSC unfolding, unrolled ML-ISTA nets."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from scpaper import mlista, msdcsc, rescsc
from scpaper.book.cache import cached
from scpaper.book.plotting import credit
from scpaper.book.runtime import Preset, seed_everything
from scpaper.data import CIFAR10_SUBSET, MNIST, load_cifar10, load_mnist
from scpaper.train import accuracy, fit

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
    return credit(fig, depth_sweep)


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
    return credit(fig, layer_lasso_comparison, unfolding_sweep)


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
    return credit(fig, unrolled_sweep)


def mnist_split(cfg: Preset) -> tuple[torch.Tensor, ...]:
    """MNIST train and test tensors of sizes cfg.mnist_train, cfg.mnist_test."""
    Xtr, ytr = load_mnist("train")
    Xte, yte = load_mnist("test")
    return Xtr[:cfg.mnist_train], ytr[:cfg.mnist_train], Xte[:cfg.mnist_test], yte[:cfg.mnist_test]


@cached(data=MNIST)
def train_unrolled(cfg: Preset, widths: tuple[int, int, int], T: int, mode: str, device: torch.device,
                   seed: int) -> dict[str, float]:
    """Train one unrolled net on MNIST with cfg's recipe; return its test accuracy and parameter count."""
    Xtr, ytr, Xte, yte = mnist_split(cfg)
    seed_everything(seed)
    net = mlista.UnrolledNet(widths, T, mode)
    fit(net, Xtr, ytr, epochs=cfg.mnist_epochs, batch_size=cfg.batch_size, lr=cfg.mnist_lr, device=device, seed=seed)
    return {"accuracy": accuracy(net, Xte, yte, device=device), "parameters": mlista.n_parameters(net)}


def unrolled_sweep(cfg: Preset, device: torch.device, seed: int) -> list[dict]:
    """Every net of the chapter: each mode at each T in cfg.mnist_T, and CNNs (T = 0) at each width scale."""
    widths = tuple(cfg.mnist_widths)
    rows = []
    for T in cfg.mnist_T:
        for mode in (("cnn",) if T == 0 else mlista.MODES):
            result = train_unrolled(cfg, widths, T, "ista" if mode == "cnn" else mode, device, seed)
            rows.append({"mode": mode, "T": T, "width_scale": 1.0, **result})
    for scale in cfg.mnist_cnn_scales:
        scaled = tuple(max(1, round(w * scale)) for w in widths)
        result = train_unrolled(cfg, scaled, 0, "ista", device, seed)
        rows.append({"mode": "cnn", "T": 0, "width_scale": float(scale), **result})
    return rows


def cifar_split(cfg: Preset) -> tuple[torch.Tensor, ...]:
    """CIFAR-10 train and test tensors of the sizes cfg.n_train, cfg.n_test (full set when cfg.full_data)."""
    Xtr, ytr = load_cifar10("train", full=cfg.full_data)
    Xte, yte = load_cifar10("test", full=cfg.full_data)
    return Xtr[:cfg.n_train], ytr[:cfg.n_train], Xte[:cfg.n_test], yte[:cfg.n_test]


@cached(data=CIFAR10_SUBSET)
def depth_sweep(cfg: Preset, device: torch.device, seed: int) -> dict[str, list]:
    """Test accuracy of plain and Res-CSC nets at each depth cfg.res_blocks (number of blocks) on CIFAR-10."""
    Xtr, ytr, Xte, yte = cifar_split(cfg)
    prepare = rescsc.cifar_prepare(cfg.pool)
    out: dict[str, list] = {"depth": [], "plain": [], "res": []}
    for n_blocks in cfg.res_blocks:
        for kind in ("plain", "res"):
            seed_everything(seed)
            net = rescsc.CSCNet(n_blocks, cfg.res_width, residual=kind == "res")
            fit(net, Xtr, ytr, epochs=cfg.res_epochs, batch_size=cfg.batch_size, lr=cfg.res_lr, prepare=prepare,
                device=device, seed=seed)
            out[kind].append(accuracy(net, Xte, yte, prepare=prepare, device=device))
        out["depth"].append(net.depth)
    return out


@cached(data=CIFAR10_SUBSET)
def unfolding_sweep(cfg: Preset, device: torch.device, seed: int) -> dict[str, list]:
    """Test accuracy on CIFAR-10 of MSD-CSC nets with cfg.msd_iters ISTA steps per layer, and the trained nets."""
    Xtr, ytr, Xte, yte = cifar_split(cfg)
    prepare = msdcsc.UnitImages(cfg.pool)
    out: dict[str, list] = {"n_iter": [], "accuracy": [], "state": []}
    for n_iter in cfg.msd_iters:
        seed_everything(seed)
        net = msdcsc.MSDCSCNet(cfg.msd_layers, cfg.msd_growth, cfg.msd_max_dilation, n_iter)
        fit(net, Xtr, ytr, epochs=cfg.msd_epochs, batch_size=cfg.batch_size, lr=cfg.msd_lr, prepare=prepare,
            device=device, seed=seed)
        out["n_iter"].append(n_iter)
        out["accuracy"].append(accuracy(net, Xte, yte, prepare=prepare, device=device))
        out["state"].append({k: v.cpu() for k, v in net.state_dict().items()})
    return out


@torch.no_grad()
def layer_lasso_comparison(state: dict, cfg: Preset, images: torch.Tensor) -> dict[str, list]:
    """Per layer of a trained MSD-CSC net: the LASSO on its input Γᵢ₋₁ with Dᵢ = [I Fᵀ] (MSD-CSC) vs Dᵢ = Fᵀ (ML-CSC).

    Both share the dilated atoms and the thresholds β of the new maps (MSD-CSC adds β_I on the carried
    part); each is solved by cfg.lasso_iters FISTA steps, and the KKT residual says how far from optimal.
    """
    net = msdcsc.MSDCSCNet(cfg.msd_layers, cfg.msd_growth, cfg.msd_max_dilation, 0)
    net.load_state_dict(state)
    net = net.double()
    inputs = net.codes(msdcsc.UnitImages(cfg.pool)(images).double())[:-1]
    rows: dict[str, list] = {"layer": [], "msd_objective": [], "ml_objective": [], "msd_error": [], "ml_error": [],
                             "msd_kkt": [], "ml_kkt": []}
    for i, (G, W) in enumerate(zip(inputs, net.atoms)):
        s, n = msdcsc.dilation_of(i, cfg.msd_max_dilation), W.shape[1]
        beta = F.softplus(net.rho_new[i])
        L_F = rescsc.lipschitz(W, tuple(G.shape[-2:]), s)
        problems = {
            "msd": (lambda c: msdcsc.msd_synthesis(c, W, s), lambda r: msdcsc.msd_analysis(r, W, s), 1 + L_F,
                    msdcsc.msd_thresholds(F.softplus(net.rho_carried[i]), beta, n), (len(G), n + W.shape[0], *G.shape[-2:])),
            "ml": (lambda c: rescsc.synthesis(c, W, s), lambda r: rescsc.analysis(r, W, s), L_F,
                   beta.view(1, -1, 1, 1), (len(G), W.shape[0], *G.shape[-2:])),
        }
        rows["layer"].append(i + 1)
        for name, (D, Dt, L, thresholds, shape) in problems.items():
            code = msdcsc.nonneg_lasso(G, D, Dt, float(L), thresholds, shape, cfg.lasso_iters)
            report = msdcsc.lasso_report(G, code, D, Dt, thresholds)
            rows[f"{name}_objective"].append(report["objective"] / len(G))
            rows[f"{name}_error"].append(report["relative_error"])
            rows[f"{name}_kkt"].append(report["kkt"])
    return rows
