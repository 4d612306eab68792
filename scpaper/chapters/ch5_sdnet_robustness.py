"""Chapter 5's experiments, figures and tables: SDNet's LASSO convergence, λ sweeps, Algorithm 1, PGD."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from tqdm.auto import tqdm

from scpaper import robustness, sdnet
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.book.runtime import Preset, threads
from scpaper.data import CIFAR10_SUBSET

trained = cached(data=CIFAR10_SUBSET)(sdnet.trained)
benchmark = cached()(sdnet.benchmark)  # measured once, then read from the cache so re-execution prints the same timing
activation_megabytes = cached()(sdnet.activation_megabytes)

PAPER_TOP1 = {"resnet": 95.54, "sdnet": 95.20}  # Dai, Li et al. 2022 / Zhang slides, CIFAR-10
PAPER_SPEED = {"resnet": 1600, "sdnet": 1500}  # images/s in the slides' table
PAPER_MEMORY_GB = {"resnet": 1.0, "sdnet": 1.2}
PAPER_PGD = {"linf": {"resnet": 0.01, "sdnet_lam0": 0.11, "sdnet_tuned": 35.18},
             "l2": {"resnet": 29.47, "sdnet_lam0": 29.95, "sdnet_tuned": 62.80}}  # Table 4, %
NAMES = {"resnet": "ResNet-18", "sdnet": "SDNet-18"}
PAPER_WIDTH = 64  # channels of ResNet-18's first stage: the width the speed and memory rows are decided at


def fig_lasso_gap(gap: dict, atoms: torch.Tensor, n_iter: int) -> plt.Figure:
    """Learned atoms (RGB); distance of unrolled ISTA/FISTA codes to the certified LASSO codes; rescaled cosine and support overlap."""
    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(14, 4), gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
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
    ax1.set_ylabel(r"$\|c_n - c^\star\|_2 / \|c^\star\|_2$")
    ax1.set_title("(b) distance to the certified LASSO codes")
    ax2.semilogx(it, gap["ista_cosine"], "o-", label="ISTA: cosine after per-channel rescale")
    ax2.semilogx(it, gap["ista_overlap"], "o--", label="ISTA: support overlap")
    ax2.semilogx(it, gap["fista_cosine"], "s-", label="FISTA: cosine after rescale")
    ax2.set_ylim(0, 1.02)
    ax2.set_title("(c) agreement up to BatchNorm's per-channel scale")
    for ax in (ax1, ax2):
        ax.axvline(n_iter, color="0.5", ls=":", label=f"{n_iter} steps (trained)")
        ax.set_xlabel("unrolled steps from zero")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    return plotting.credit(fig, sdnet.lasso_gap, fig_lasso_gap)


def fig_lambda_sweep(sweep: dict, resnet_acc: np.ndarray, sigma_best: np.ndarray) -> plt.Figure:
    """Test accuracy vs test-time λ per severity, one panel per noise (slides' Fig 2), and best λ against Gaussian σ."""
    lams = np.asarray(sweep["lams"])
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.4), gridspec_kw={"width_ratios": [1, 1, 1, 1, 0.8]})
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, 6))
    step = float(np.min(np.diff(lams))) if len(lams) > 1 else 0.05
    for k, (ax, kind) in enumerate(zip(axes, sweep["kinds"])):
        for s in range(6):
            acc = 100 * sweep["acc"][k, s]
            ax.plot(lams, acc, "-", color=colors[s], label="clean" if s == 0 else f"severity {s}")
            j = int(acc.argmax())
            ax.plot(lams[j], acc[j], "*", color=colors[s], ms=11, mec="k", mew=0.5)
            ax.plot(lams[0] - step, 100 * resnet_acc[k, s], "<", color=colors[s], ms=6)
        ax.set_title(f"({'abcd'[k]}) {kind} noise")
        ax.set_xlabel(r"test-time $\lambda$")
        if k:
            ax.sharey(axes[0])
    axes[0].set_ylabel("test accuracy (%)")
    axes[3].legend(fontsize="x-small", loc="best")
    ax = axes[4]
    sigma = np.concatenate([[0.0], robustness.SEVERITIES["gaussian"]])
    ax.plot(sigma, sigma_best[0], "o-", color="C3", label="best λ, all test images")
    ax.fill_between(sigma, sigma_best[1], sigma_best[2], color="C3", alpha=0.2, label="95 % bootstrap band")
    ax.set_xlabel(r"Gaussian noise $\sigma$ ($\propto \|E\|_2$)")
    ax.set_ylabel(r"best test-time $\lambda$")
    ax.set_title("(e) best λ against the noise norm")
    ax.legend(fontsize="x-small")
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
        ax.plot(val["residual"][k], alg["lam_informed"][k], "o", label=r"validation best $\lambda_c$")
        ax.plot(grid, a + b * grid, "-", color="0.3", label=r"least-squares $\lambda(r)$")
        ax.plot(test["residual"][k], alg["lam_oracle"][k], "x", ms=8, label=r"test best $\lambda$ (oracle)")
        ax.set_title(f"({'abcd'[k]}) {kind}: fit on validation")
        ax.set_xlabel("mean CSC residual $r$")
        ax = axes[1, k]
        for key, label, style in (("fixed", r"SDNet, fixed $\lambda_0$", "o-"), ("algorithm1", "SDNet, Algorithm 1", "s-"),
                                  ("informed", r"SDNet, $\lambda$ chosen on validation per noise", "d-"),
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
    """Robust and clean accuracy vs test-time λ: PGD crafted at λ0 (non-adaptive), PGD at the tuned λ (adaptive)."""
    lams = np.asarray(study["lams"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (name, title) in zip(axes, (("linf", r"(a) $L_\infty$ PGD"), ("l2", r"(b) $L_2$ PGD"))):
        s = study[name]
        ax.plot(lams, 100 * np.asarray(study["clean_val"]), "-", color="0.6", label="clean, validation")
        ax.plot(lams, 100 * np.asarray(study["clean_test"]), "-", color="k", label="clean, test")
        ax.plot(lams, 100 * np.asarray(s["val_curve"]), "o:", label=r"validation, crafted at $\lambda_0$")
        ax.plot(lams, 100 * np.asarray(s["transfer"]), "s-", label=r"test, crafted at $\lambda_0$ (non-adaptive)")
        ax.plot([s["tuned_lam"]], [100 * s["adaptive"].mean()], "r^", ms=9, label=r"test, PGD at the tuned $\lambda$ (adaptive)")
        ax.axhline(100 * s["resnet"].mean(), color="k", ls="--", label="ResNet-18 under PGD")
        ax.axvline(s["tuned_lam"], color="0.5", ls=":", label=r"tuned $\lambda$ (validation)")
        ax.set_title(title)
        ax.set_xlabel(r"test-time $\lambda$")
    axes[0].set_ylabel("accuracy (%)")
    axes[1].legend(fontsize="x-small")
    fig.tight_layout()
    return plotting.credit(fig, pgd_study, fig_pgd)


def training_table(records: dict[str, dict], test_acc: dict[str, float], bench: dict[str, dict],
                   activations: dict[str, float]) -> pd.DataFrame:
    """Slides' CIFAR-10 table beside ours, one column per network: parameters, top-1, memory, throughput ('—': not measured)."""
    rows = []
    for arch in ("resnet", "sdnet"):
        b = bench[arch]
        rows.append({"model": NAMES[arch], "params (M)": b["params"] / 1e6, "top-1 % (ours)": 100 * test_acc[arch],
                     "top-1 % (paper)": PAPER_TOP1[arch], "val top-1 %": 100 * records[arch]["val_acc"],
                     "saved activations at width 64 (MB/image)": activations[arch],
                     "peak GPU memory (MB)": b.get("peak_mb", np.nan),
                     "paper memory (GB)": PAPER_MEMORY_GB[arch], "train img/s": b["train_img_s"],
                     "inference img/s": b["infer_img_s"], "paper img/s": PAPER_SPEED[arch],
                     "training time (s)": records[arch]["seconds"]})
    return pd.DataFrame(rows).set_index("model").round(2).T.fillna("—")


def unrolled_table(unrolled: dict, gap: dict) -> pd.DataFrame:
    """Test accuracy (%) of the trained SDNet per number of unrolled stem steps, clean and under Gaussian noise 5, per λ."""
    rows = {}
    for i, n in enumerate(unrolled["steps"]):
        row = {"distance to c* (8×8 crops)": gap["ista_error"][gap["iterations"].index(n)] if n in gap["iterations"] else np.nan}
        for j, lam in enumerate(unrolled["lams"]):
            row[f"clean, λ = {lam:g}"] = 100 * unrolled["clean"][i, j].mean()
            row[f"Gaussian 5, λ = {lam:g}"] = 100 * unrolled["noisy"][i, j].mean()
        rows[f"{n} step{'s' if n > 1 else ''}"] = row
    return pd.DataFrame(rows).T.round(3).fillna("—")


def pgd_table(study: dict, attacks: dict) -> pd.DataFrame:
    """Table 4 beside ours: robust accuracy (%) of ResNet-18, SDNet-18 at λ0, at the tuned λ, and under adaptive PGD.

    Also the clean test accuracy at each λ used ('—' marks what the paper does not report or what has no λ).
    """
    rows = {"ResNet-18": "resnet", "SDNet-18, λ0": "sdnet_lam0", "SDNet-18, tuned λ (non-adaptive)": "sdnet_tuned",
            "SDNet-18, tuned λ (adaptive PGD)": "adaptive"}
    lams = list(study["lams"])
    table = {}
    for name in ("linf", "l2"):
        s = study[name]
        label = "L∞ = 8/255" if name == "linf" else f"L2 = {attacks[name]['eps']:g}"
        table[f"{label}, ours"] = [100 * np.mean(s[key]) for key in rows.values()]
        table[f"{label}, paper"] = [PAPER_PGD[name].get(key, np.nan) for key in rows.values()]
        table[f"{label}, λ"] = [np.nan, study["lam0"], s["tuned_lam"], s["tuned_lam"]]
        clean_at = 100 * study["clean_test"][lams.index(s["tuned_lam"])]
        table[f"{label}, clean % at that λ"] = [100 * study["clean_resnet"], 100 * study["clean_test"][lams.index(study["lam0"])],
                                                clean_at, clean_at]
    return pd.DataFrame(table, index=list(rows)).round(2).fillna("—")


def spec(cfg: Preset, arch: str, device: torch.device | str, seed: int = 0) -> dict:
    """Keyword arguments of trained() for arch at a chapter preset (the key of every cached SDNet step)."""
    return {"arch": arch, "width": cfg.width, "n_train": cfg.n_train, "n_val": cfg.n_val, "full": cfg.full,
            "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": cfg.lr, "lam": cfg.lam0, "n_iter": cfg.n_iter,
            "device": torch.device(device), "seed": seed}


def from_spec(spec: dict, n_iter: int | None = None) -> sdnet.ResNet18:
    """The trained network a spec describes (trained on first use, then read from the cache), in eval mode.

    n_iter changes the number of unrolled steps of the stem at test time (default: as trained).
    """
    record = trained(**spec)
    return sdnet.load(spec["arch"], spec["width"], record, lam=spec["lam"], n_iter=n_iter or spec["n_iter"],
                      device=spec["device"])


def _split(spec: dict, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n uint8 images of split ('val' or 'test') and their labels."""
    if split not in ("val", "test"):
        raise ValueError(f"split must be 'val' or 'test' (never select λ on the test set), got {split!r}")
    X, y = sdnet.cifar_split(spec["n_val"], spec["full"], spec["seed"])[split]
    return X[:n], y[:n]


@cached(data=CIFAR10_SUBSET)
def test_correct(spec: dict) -> np.ndarray:
    """Per-image correctness (bool) of a trained network on every test image."""
    X, y = _split(spec, "test", 10**9)
    return robustness.scores(from_spec(spec), X, y)[0]


@cached(data=CIFAR10_SUBSET)
def corruption_sweep(spec: dict, split: str, n: int, lams: tuple[float, ...], seed: int = 0) -> dict:
    """Per-image correctness of a trained SDNet on n corrupted images of split for every kind, severity 0–5 and λ.

    Returns {'correct': bool (kinds, 6, len(lams), n), 'acc': its mean over images, 'residual': (kinds, 6) mean
    CSC residual at the trained λ, 'kinds', 'lams'}; severity 0 is the clean set (evaluated once, shared by
    every kind). The noise is drawn per (seed, split, kind, severity).
    """
    X, y = _split(spec, split, n)
    model = from_spec(spec)
    lam0 = model.csc.lam
    kinds = robustness.CORRUPTIONS
    correct = np.zeros((len(kinds), 6, len(lams), len(X)), dtype=bool)
    res = np.zeros((len(kinds), 6))
    noisy = robustness.corrupt_all(X, seed, split, threads())
    bar = tqdm(total=(1 + 5 * len(kinds)) * len(lams), desc=f"λ sweep ({split})", leave=False)
    for k, kind in enumerate(kinds):
        for s in range(6):
            if s == 0 and k > 0:
                correct[k, 0], res[k, 0] = correct[0, 0], res[0, 0]
                continue
            Xc = X if s == 0 else noisy[kind, s]
            res[k, s] = robustness.stem_residuals(sdnet.set_lambda(model, lam0), Xc).mean()
            for j, lam in enumerate(lams):
                correct[k, s, j] = robustness.scores(sdnet.set_lambda(model, lam), Xc, y)[0]
                bar.update()
    bar.close()
    sdnet.set_lambda(model, lam0)
    return {"correct": correct, "acc": correct.mean(-1), "residual": res, "kinds": kinds, "lams": tuple(lams)}


@cached(data=CIFAR10_SUBSET)
def corruption_accuracy(spec: dict, n: int, seed: int = 0) -> np.ndarray:
    """Test accuracy of a trained network (any arch) on n corrupted test images, shape (kinds, 6)."""
    X, y = _split(spec, "test", n)
    model = from_spec(spec)
    clean = robustness.evaluate(model, X, y)[0]
    noisy = robustness.corrupt_all(X, seed, "test", threads())
    return np.array([[clean] + [robustness.evaluate(model, noisy[kind, s], y)[0] for s in range(1, 6)]
                     for kind in robustness.CORRUPTIONS])


@cached(data=CIFAR10_SUBSET)
def unrolled_robustness(spec: dict, n: int, steps: tuple[int, ...], lams: tuple[float, ...], seed: int = 0) -> dict:
    """Per-image test correctness of the trained SDNet with n unrolled stem steps at test time, clean and Gaussian severity 5.

    Returns {'clean', 'noisy': bool (len(steps), len(lams), n), 'steps', 'lams'}.
    """
    X, y = _split(spec, "test", n)
    noisy = robustness.corrupt(X, "gaussian", 5, seed, split="test")
    out = {"clean": np.zeros((len(steps), len(lams), len(X)), bool), "steps": tuple(steps), "lams": tuple(lams)}
    out["noisy"] = out["clean"].copy()
    for i, n_iter in enumerate(tqdm(steps, desc="unrolled steps", leave=False)):
        model = from_spec(spec, n_iter=n_iter)
        for j, lam in enumerate(lams):
            sdnet.set_lambda(model, lam)
            out["clean"][i, j] = robustness.scores(model, X, y)[0]
            out["noisy"][i, j] = robustness.scores(model, noisy, y)[0]
    return out


def _attack_set(spec: dict, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of split as floats in [0, 1] on the spec's device, and their labels."""
    X, y = _split(spec, split, n)
    device = torch.device(spec["device"])
    return sdnet.to_unit(X.to(device)), y.to(device)


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Per-image correctness of model on (already perturbed) images x in [0, 1]."""
    return robustness.scores(model, x.cpu(), y.cpu())[0]


def tuned_lambda(lams: tuple[float, ...], robust: list[float], clean: list[float], lam0: float, max_drop: float) -> int:
    """Index of the λ of highest validation robust accuracy among those whose clean accuracy is at most max_drop below λ0's.

    Ties go to the λ closest to λ0 (λ0 itself when nothing beats it).
    """
    lams = list(lams)
    floor = clean[lams.index(lam0)] - max_drop
    allowed = [j for j in range(len(lams)) if clean[j] >= floor]
    return max(allowed, key=lambda j: (robust[j], -abs(lams[j] - lam0)))


@cached(data=CIFAR10_SUBSET)
def pgd_study(resnet: dict, sdnet_spec: dict, n: int, lams: tuple[float, ...], attacks: dict, max_drop: float,
              seed: int = 0) -> dict:
    """Per-image robust correctness of ResNet, SDNet at λ0, at a tuned λ, and under an adaptive attack.

    For each attack (name → pgd keyword arguments): examples are crafted against SDNet at λ0 on n validation
    and n test images; the tuned λ maximises robust accuracy on the validation examples among the λ whose
    clean validation accuracy is at most max_drop (a fraction) below λ0's; on the test images we keep
    ResNet under the same attack, SDNet at λ0, SDNet at the tuned λ on the λ0 examples (non-adaptive, the
    slides' setting) and SDNet at the tuned λ under PGD run against it (adaptive), plus accuracy curves.
    """
    resnet_model, model = from_spec(resnet), from_spec(sdnet_spec)
    lam0 = model.csc.lam
    if lam0 not in lams:
        raise ValueError(f"the λ grid must hold the trained λ0 = {lam0}, got {lams}")
    xv, yv = _attack_set(sdnet_spec, "val", n)
    xt, yt = _attack_set(sdnet_spec, "test", n)
    out: dict = {"lams": tuple(lams), "lam0": lam0, "clean_resnet": float(_correct(resnet_model, xt, yt).mean()),
                 "clean_val": [float(_correct(sdnet.set_lambda(model, lam), xv, yv).mean()) for lam in lams],
                 "clean_test": [float(_correct(sdnet.set_lambda(model, lam), xt, yt).mean()) for lam in lams]}
    for name, kw in tqdm(attacks.items(), desc="PGD", leave=False):
        adv_val = robustness.pgd(sdnet.set_lambda(model, lam0), xv, yv, seed=seed, **kw)
        val_curve = [float(_correct(sdnet.set_lambda(model, lam), adv_val, yv).mean()) for lam in lams]
        i = tuned_lambda(lams, val_curve, out["clean_val"], lam0, max_drop)
        adv_test = robustness.pgd(sdnet.set_lambda(model, lam0), xt, yt, seed=seed + 1, **kw)
        transfer = [_correct(sdnet.set_lambda(model, lam), adv_test, yt) for lam in lams]
        adaptive = _correct(sdnet.set_lambda(model, lams[i]), robustness.pgd(model, xt, yt, seed=seed + 2, **kw), yt)
        out[name] = {"resnet": _correct(resnet_model, robustness.pgd(resnet_model, xt, yt, seed=seed + 1, **kw), yt),
                     "sdnet_lam0": transfer[list(lams).index(lam0)], "tuned_lam": float(lams[i]),
                     "sdnet_tuned": transfer[i], "adaptive": adaptive, "val_curve": val_curve,
                     "transfer": [float(t.mean()) for t in transfer]}
    sdnet.set_lambda(model, lam0)
    return out


def best_lambdas(correct: np.ndarray, lams: tuple[float, ...], idx: np.ndarray | None = None) -> np.ndarray:
    """The accuracy-maximising λ per set, from per-image correctness (…, λ, images), on the images idx (all if None)."""
    c = correct if idx is None else correct[..., idx]
    return np.asarray(lams)[c.mean(-1).argmax(-1)]


def best_lambda_slope(correct: np.ndarray, lams: tuple[float, ...], x: np.ndarray, idx: np.ndarray | None = None) -> float:
    """Least-squares slope of the best λ on x (one value per level), from per-image correctness (levels, λ, images)."""
    return float(np.polyfit(np.asarray(x, dtype=float), best_lambdas(correct, lams, idx), 1)[0])


def best_lambda_rank_correlation(correct: np.ndarray, lams: tuple[float, ...], severity: np.ndarray,
                                 idx: np.ndarray | None = None) -> float:
    """Spearman ρ between severity (per kind × level) and the best λ, from per-image correctness (…, levels, λ, images)."""
    best = best_lambdas(correct, lams, idx)
    x, y = np.broadcast_to(severity, best.shape).ravel(), best.ravel()
    return 0.0 if np.ptp(y) == 0 else float(stats.spearmanr(x, y).statistic)
