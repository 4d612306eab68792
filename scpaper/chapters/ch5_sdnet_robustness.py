"""Chapter 5's experiments, figures and tables: SDNet's LASSO convergence, λ sweeps, Algorithm 1, PGD."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from torch import nn
from tqdm.auto import tqdm

from scpaper import robustness, sdnet
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.book.runtime import Preset
from scpaper.data import CIFAR10_SUBSET

trained = cached(data=CIFAR10_SUBSET)(sdnet.trained)
benchmark = cached()(sdnet.benchmark)  # measured once, then read from the cache so re-execution prints the same timing

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
    return plotting.credit(fig, corruption_sweep, fig_lambda_sweep)


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
    return plotting.credit(fig, pgd_study, fig_pgd)


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


def spec(cfg: Preset, arch: str, device: torch.device | str, seed: int = 0) -> dict:
    """Keyword arguments of trained() for arch at a chapter preset (the key of every cached SDNet step)."""
    return {"arch": arch, "width": cfg.width, "n_train": cfg.n_train, "n_val": cfg.n_val, "full": cfg.full,
            "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "lam": cfg.lam0, "n_iter": cfg.n_iter,
            "device": torch.device(device), "seed": seed}


def from_spec(spec: dict) -> sdnet.ResNet18:
    """The trained network a spec describes (trained on first use, then read from the cache), in eval mode."""
    record = trained(**spec)
    return sdnet.load(spec["arch"], spec["width"], record, lam=spec["lam"], n_iter=spec["n_iter"], device=spec["device"])


@cached(data=CIFAR10_SUBSET)
def corruption_sweep(spec: dict, split: str, n: int, lams: tuple[float, ...], seed: int = 0) -> dict:
    """Accuracy of a trained SDNet on n corrupted images of split ('val' or 'test') for every kind, severity 0–5, λ.

    Returns {'acc': (kinds, 6, len(lams)) array, 'residual': (kinds, 6) mean CSC residual at the trained λ,
    'kinds', 'lams'}; severity 0 is the clean set.
    """
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test' (never select λ on the test set), got {split!r}")
    X, y = sdnet.cifar_split(spec["n_val"], spec["full"], spec["seed"])[split]
    X, y = X[:n], y[:n]
    model = from_spec(spec)
    lam0 = model.csc.lam
    acc = np.zeros((len(robustness.CORRUPTIONS), 6, len(lams)))
    res = np.zeros((len(robustness.CORRUPTIONS), 6))
    bar = tqdm(total=acc.size, desc=f"λ sweep ({split})", leave=False)
    for k, kind in enumerate(robustness.CORRUPTIONS):
        for s in range(6):
            Xc = robustness.corrupt(X, kind, s, seed)
            sdnet.set_lambda(model, lam0)
            res[k, s] = robustness.evaluate(model, Xc, y, residual=True)[1]
            for j, lam in enumerate(lams):
                acc[k, s, j] = robustness.evaluate(sdnet.set_lambda(model, lam), Xc, y)[0]
                bar.update()
    bar.close()
    return {"acc": acc, "residual": res, "kinds": robustness.CORRUPTIONS, "lams": tuple(lams)}


@cached(data=CIFAR10_SUBSET)
def corruption_accuracy(spec: dict, n: int, seed: int = 0) -> np.ndarray:
    """Test accuracy of a trained network (any arch) on n corrupted test images, shape (kinds, 6)."""
    X, y = sdnet.cifar_split(spec["n_val"], spec["full"], spec["seed"])["test"]
    model = from_spec(spec)
    return np.array([[robustness.evaluate(model, robustness.corrupt(X[:n], kind, s, seed), y[:n])[0] for s in range(6)] for kind in robustness.CORRUPTIONS])


def _attack_set(spec: dict, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of split as floats in [0, 1] on the spec's device, and their labels."""
    X, y = sdnet.cifar_split(spec["n_val"], spec["full"], spec["seed"])[split]
    device = torch.device(spec["device"])
    return sdnet.to_unit(X[:n].to(device)), y[:n].to(device)


def _robust_acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of model on already perturbed images x."""
    return robustness.evaluate(model, x.cpu(), y.cpu())[0]


@cached(data=CIFAR10_SUBSET)
def pgd_study(resnet: dict, sdnet_spec: dict, n: int, lams: tuple[float, ...], attacks: dict, seed: int = 0) -> dict:
    """Robust accuracy of ResNet, SDNet at its trained λ0, at a tuned λ, and under an adaptive attack.

    For each attack (name → pgd keyword arguments): adversarial examples are crafted against ResNet and
    against SDNet at λ0; the tuned λ maximises SDNet's accuracy on n *validation* images attacked at λ0;
    on n test images we report ResNet, SDNet at λ0, SDNet at the tuned λ on the λ0 examples (the
    non-adaptive setting), accuracy vs λ on those examples ('transfer') and against PGD run on the
    network at each λ ('adaptive').
    """
    resnet_model, model = from_spec(resnet), from_spec(sdnet_spec)
    lam0 = model.csc.lam
    out: dict = {"lams": tuple(lams), "lam0": lam0}
    xv, yv = _attack_set(sdnet_spec, "val", n)
    xt, yt = _attack_set(sdnet_spec, "test", n)
    out["clean"] = {"resnet": _robust_acc(resnet_model, xt, yt), "sdnet": _robust_acc(model, xt, yt)}
    for name, kw in tqdm(attacks.items(), desc="PGD", leave=False):
        sdnet.set_lambda(model, lam0)
        adv_val = robustness.pgd(model, xv, yv, seed=seed, **kw)
        val_curve = [_robust_acc(sdnet.set_lambda(model, lam), adv_val, yv) for lam in lams]
        i = int(np.argmax(val_curve))
        adv_test = robustness.pgd(sdnet.set_lambda(model, lam0), xt, yt, seed=seed + 1, **kw)
        at_lam0 = _robust_acc(model, adv_test, yt)
        transfer = [_robust_acc(sdnet.set_lambda(model, lam), adv_test, yt) for lam in lams]
        adaptive = []
        for lam in lams:
            sdnet.set_lambda(model, lam)
            adaptive.append(_robust_acc(model, robustness.pgd(model, xt, yt, seed=seed + 2, **kw), yt))
        out[name] = {"resnet": _robust_acc(resnet_model, robustness.pgd(resnet_model, xt, yt, seed=seed + 1, **kw), yt),
                     "sdnet_lam0": at_lam0, "tuned_lam": float(lams[i]), "sdnet_tuned": transfer[i],
                     "sdnet_adaptive": adaptive[i], "val_curve": val_curve,
                     "transfer": transfer, "adaptive": adaptive}
    return out
