"""The ML-CSC chapter's experiments (batched Monte-Carlo sweeps returning tables) and the figures drawn from them."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from tqdm.auto import tqdm

from scpaper import coherence, mlcsc, pursuit, train
from scpaper.book import claims, intervals, plotting
from scpaper.book.cache import cached
from scpaper.data import MNIST, load_mnist

low_coherence_filters = cached()(mlcsc.low_coherence_filters)
BETA_POSITION = 0.05  # the theorem's β near the low end of its interval: smallest εᵢ for the layers above
learned_dictionary = cached()(pursuit.learned_dictionary)


def _input_error(model: mlcsc.Model, layer: int, err: torch.Tensor) -> torch.Tensor:
    """‖e‖2,∞ of the error in a layer's input (Y for layer 1, Γ̂ᵢ₋₁ − Γᵢ₋₁ above) over patches of nᵢ positions."""
    return mlcsc.local_l2(err, model.channels[layer - 1], model.lengths[layer - 1])


def _trial_rows(model: mlcsc.Model, codes: list[torch.Tensor], Y: torch.Tensor, lam: float, grid: torch.Tensor,
                **labels) -> pd.DataFrame:
    """Per trial and layer, for the tuned forward pass and layered BP: exact support, support overlap, relative
    error, the theorems' conditions and their bounds (thresholding: support and ‖·‖2,∞ ≤ εᵢ with the theorem's
    β; layered BP with λᵢ = 4‖eᵢ₋₁‖2,∞: Ŝ ⊆ S and ‖·‖∞ ≤ 7.5‖eᵢ₋₁‖2,∞, eᵢ₋₁ the error of its input)."""
    noise = Y - codes[0] @ model.dictionaries[0].T
    cond = mlcsc.conditions(model, codes, noise, position=BETA_POSITION)
    tuned = mlcsc.layered_thresholding(model, Y, mlcsc.tune_thresholds(model, Y, codes, grid))
    theorem = mlcsc.layered_thresholding(model, Y, [cond.beta[:, i:i + 1] for i in range(model.depth)])
    frames, x, err_in = [], Y, noise
    for i, (D, G) in enumerate(zip(model.dictionaries, model.grams), start=1):
        e_in = _input_error(model, i, err_in)
        lbp, _ = mlcsc.lasso_layer(D, x, torch.clamp(4 * e_in, min=lam), gram=G)
        held_thr = cond.thresholding[:, :i].all(1)
        thr_ok = (mlcsc.exact_support(codes[i - 1], theorem[i - 1])
                  & (mlcsc.local_error(model, i, codes[i - 1], theorem[i - 1]) <= cond.eps[:, i - 1] * (1 + 1e-9) + 1e-12))
        inside = ((lbp != 0) & (codes[i - 1] == 0)).sum(1) == 0
        lbp_ok = inside & ((lbp - codes[i - 1]).abs().amax(1) <= 7.5 * e_in + 1e-9)
        base = dict(labels, layer=i, trial=range(len(Y)), local=cond.local[:, i - 1].cpu().numpy(),
                    thr_condition=held_thr.cpu().numpy(), bp_condition=cond.bp[:, i - 1].cpu().numpy(),
                    unique_condition=cond.unique[:, i - 1].cpu().numpy(), noisy=bool(e_in.max() > 0))
        for method, est, theorem_ok in (("thresholding", tuned[i - 1], thr_ok), ("layered BP", lbp, lbp_ok)):
            frames.append(pd.DataFrame({**base, "method": method,
                                        "exact": mlcsc.exact_support(codes[i - 1], est).cpu().numpy(),
                                        "overlap": mlcsc.support_recovery(codes[i - 1], est).cpu().numpy(),
                                        "rel_error": mlcsc.relative_error(codes[i - 1], est).cpu().numpy(),
                                        "exact_values": ((est - codes[i - 1]).abs().amax(1) == 0).cpu().numpy(),
                                        "theorem_ok": theorem_ok.cpu().numpy(),
                                        "theorem_error": (mlcsc.local_error(model, i, codes[i - 1], theorem[i - 1]) if method == "thresholding"
                                                          else (est - codes[i - 1]).abs().amax(1)).cpu().numpy(),
                                        "bound": (cond.eps[:, i - 1] if method == "thresholding" else 7.5 * e_in).cpu().numpy(),
                                        "code_max": codes[i - 1].abs().amax(1).cpu().numpy(),
                                        "error": (mlcsc.local_error(model, i, codes[i - 1], est) if method == "thresholding"
                                                  else (est - codes[i - 1]).abs().amax(1)).cpu().numpy()}))
        x, err_in = lbp, lbp - codes[i - 1]
    return pd.concat(frames, ignore_index=True)


def layer_sweep(model: mlcsc.Model, locals_: list[int], ratios: list[float], noises: list[float], *, ratio: float,
                n_nonzeros: int, n_trials: int, lam: float, seed: int = 0) -> pd.DataFrame:
    """Per-trial scores of the tuned forward pass and layered BP against the contrast |Γmin|/|Γmax| (σ = 0)
    and against the noise σ (contrast `ratio`), for every top-layer ‖Γ‖0,∞ in locals_ (the same supports,
    signs and noise draw across one sweep, so its points are paired); plus, without noise, whether exact
    layered basis pursuit recovers each layer (pursuit.bp_recovers; it depends on supports and signs only)."""
    grid = torch.linspace(0, 1, 41, dtype=torch.float64)
    frames = []
    steps = [(k, "contrast", v) for k in locals_ for v in ratios] + [(k, "noise", v) for k in locals_ for v in noises]
    for k, axis, v in tqdm(steps, desc="ML-CSC sweep", leave=False):
        r, s = (v, 0.0) if axis == "contrast" else (ratio, v)
        codes, Y = mlcsc.sample_signals(model, n_trials, n_nonzeros, (k,) * model.depth, r, s, seed + 1000 * k, cluster=k)
        frame = _trial_rows(model, codes, Y, lam, grid, k=k, axis=axis, value=v)
        if axis == "contrast" and v == ratios[0]:
            each = torch.stack([pursuit.bp_recovers(D, c) for D, c in zip(model.dictionaries, codes)], 1)
            exact = each.long().cumprod(1).bool().cpu().numpy()
            frame["bp_exact"] = exact[frame.trial.to_numpy(), frame.layer.to_numpy() - 1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def unrolling_sweep(model: mlcsc.Model, iterations: list[int], *, ratio: float, local: int, n_nonzeros: int,
                    n_trials: int, lam: float, seed: int = 0) -> pd.DataFrame:
    """Per-trial last-layer relative error of layered ISTA and FISTA with k unrolled steps from Γ⁰ = 0, and of
    the forward pass with thresholds tuned on the trials (the baseline a trained CNN could at best reach)."""
    codes, Y = mlcsc.sample_signals(model, n_trials, n_nonzeros, (local,) * model.depth, ratio, 0.0, seed, cluster=local)
    grid = torch.linspace(0, 1, 41, dtype=torch.float64)
    last = codes[-1]
    tuned = mlcsc.layered_thresholding(model, Y, mlcsc.tune_thresholds(model, Y, codes, grid))[-1]
    rows = [pd.DataFrame({"k": 1, "method": "forward pass, tuned β", "trial": range(n_trials),
                          "rel_error": mlcsc.relative_error(last, tuned).cpu().numpy()})]
    for k in iterations:
        for algo in ("ISTA", "FISTA"):
            est = mlcsc.layered_ista(model, Y, [lam] * model.depth, k, fista=algo == "FISTA")[-1]
            rows.append(pd.DataFrame({"k": k, "method": algo, "trial": range(n_trials),
                                      "rel_error": mlcsc.relative_error(last, est).cpu().numpy()}))
    return pd.concat(rows, ignore_index=True)


def stripe_sweep(filters: torch.Tensor, n_positions: int, locals_: list[int], n_trials: int, seed: int = 0) -> pd.DataFrame:
    """Single-layer convolutional recovery by BP and OMP for signals with ‖Γ‖0,∞ ≤ k, as many atoms as fit."""
    D = mlcsc.conv_dictionary(filters, n_positions)
    model = mlcsc.Model((D,), (1, filters.shape[0]), (filters.shape[2],), n_positions)
    rows = []
    for j, k in enumerate(locals_):
        codes, Y = mlcsc.sample_signals(model, n_trials, n_positions, (k,), 0.1, 0.0, seed + j)
        x = codes[0]
        for method, ok in (("BP", pursuit.bp_recovers(D, x)), ("OMP", pursuit.recovered(x, pursuit.omp(D, Y)))):
            rows.append({"local": k, "method": method, "successes": int(ok.sum()), "trials": n_trials,
                         "l0": float((x != 0).sum(1).double().mean()), "l0_min": int((x != 0).sum(1).min()),
                         "l0inf": int(mlcsc.local_l0(x, filters.shape[0], mlcsc.stripe_width(model, 1)).max())})
    return pd.DataFrame(rows)


class SmallCNN(nn.Module):
    """Two 5×5 conv layers (16 and 32 filters) with ReLU and max-pooling, then a linear classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores of a batch of (N, 28, 28) images."""
        return self.head(self.features(x.unsqueeze(1)).flatten(1))


def conv_coherences(model: nn.Module) -> list[tuple[float, float]]:
    """(average, mutual) coherence of every conv layer, atoms = filters flattened over (in, kh, kw)."""
    return [(coherence.average_coherence(m.weight.detach().double().flatten(1).T),
             coherence.mutual_coherence(m.weight.detach().double().flatten(1).T))
            for m in model.modules() if isinstance(m, nn.Conv2d)]


def random_null(model: nn.Module, seed: int = 0) -> list[float]:
    """Average coherence of Gaussian filters of every conv layer's shape: what chance alone gives."""
    gen = torch.Generator().manual_seed(seed)
    return [coherence.average_coherence(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64).flatten(1).T)
            for m in model.modules() if isinstance(m, nn.Conv2d)]


def chance_coherence() -> list[tuple[int, float]]:
    """(taps, √(2/(π·taps))) per conv layer of SmallCNN: the average |cos| of random filters with that many taps."""
    return [(m.weight[0].numel(), math.sqrt(2 / (math.pi * m.weight[0].numel())))
            for m in SmallCNN().modules() if isinstance(m, nn.Conv2d)]


@cached(data=MNIST)
def trained_cnn_coherence(n_images: int, epochs: int, seed: int = 0) -> pd.DataFrame:
    """Train SmallCNN on n_images MNIST digits; per conv layer, coherences at initialisation, after training
    and of random Gaussian filters of the same shape."""
    torch.manual_seed(seed)
    X, y = load_mnist("train", slice(0, n_images))
    net = SmallCNN()
    before = conv_coherences(net)
    null = random_null(net, seed)
    train.fit(net, X, y, epochs=epochs, batch_size=64, lr=0.05, seed=seed, progress=False)
    acc = train.accuracy(net, *load_mnist("test", slice(0, 2000)))
    after = conv_coherences(net)
    return pd.DataFrame([{"layer": i + 1, "average (init)": b[0], "average (trained)": a[0], "average (random null)": r,
                          "mutual (trained)": a[1], "test accuracy": acc}
                         for i, (b, a, r) in enumerate(zip(before, after, null))])


def _rate(df: pd.DataFrame) -> pd.DataFrame:
    """Add rate, lo, hi (Clopper–Pearson 95 %) columns from successes and trials."""
    ci = [intervals.proportion(int(k), int(n)) for k, n in zip(df.successes, df.trials)]
    return df.assign(rate=df.successes / df.trials, lo=[c.low for c in ci], hi=[c.high for c in ci])


def fig_single_layer(df: pd.DataFrame) -> plt.Figure:
    """Exact-recovery rate of BP and OMP against ‖x‖₀ per dictionary, with Clopper–Pearson bands and the ½(1+1/μ) bound."""
    df = _rate(df)
    names = list(dict.fromkeys(df.dictionary))
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), sharey=True)
    for ax, name in zip(axes, names):
        sub = df[df.dictionary == name]
        for method, g in sub.groupby("method"):
            ax.plot(g.k, g.rate, "o-", label=method)
            ax.fill_between(g.k, g.lo, g.hi, alpha=0.2)
        ax.axvline(sub.bound.iloc[0], color="k", ls="--", label="½(1+1/μ)")
        ax.set(title=f"{name}: μ = {sub.mu.iloc[0]:.3f}", xlabel="‖x‖₀")
    axes[0].set_ylabel("exact recovery rate")
    axes[0].legend()
    fig.tight_layout()
    return plotting.credit(fig, pursuit.recovery_sweep, fig_single_layer)


def fig_stripe(df: pd.DataFrame, global_bound: float, local_bound: float) -> plt.Figure:
    """Convolutional recovery rate against the average total ‖Γ‖₀, one point per ℓ0,∞ bound."""
    df = _rate(df)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for method, g in df.groupby("method"):
        ax.errorbar(g.l0, g.rate, yerr=[g.rate - g.lo, g.hi - g.rate], fmt="o-", capsize=3, label=method)
        for _, r in g.iterrows():
            ax.annotate(f"‖Γ‖0,∞≤{r.local}", (r.l0, r.rate), fontsize=7, xytext=(3, -10), textcoords="offset points")
    ax.axvline(global_bound, color="k", ls="--", label=f"global ½(1+1/μ) = {global_bound:.2f}")
    ax.set(xlabel="total non-zeros ‖Γ‖₀ (mean)", ylabel="exact recovery rate",
           title=f"stripe guarantee: ‖Γ‖0,∞ < {local_bound:.2f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, stripe_sweep, fig_stripe)


def fig_layers(df: pd.DataFrame) -> plt.Figure:
    """Exact-support rate (with 95 % intervals) per layer of the tuned forward pass and layered BP, against the
    contrast (σ = 0, top row) and the noise σ (bottom row), one colour per top-layer ‖Γ‖0,∞."""
    layers = sorted(df.layer.unique())
    fig, axes = plt.subplots(2, len(layers), figsize=(5 * len(layers), 6.4), sharey=True, squeeze=False)
    for row, (axis, label) in enumerate((("contrast", "|Γmin|/|Γmax| (σ = 0)"), ("noise", "noise σ"))):
        sub = df[df.axis == axis]
        for col, layer in enumerate(layers):
            ax = axes[row, col]
            for (method, k), g in sub[sub.layer == layer].groupby(["method", "k"]):
                stats = g.groupby("value").exact.agg(["sum", "count"])
                ci = [intervals.proportion(int(a), int(n)) for a, n in zip(stats["sum"], stats["count"])]
                rate = stats["sum"] / stats["count"]
                ax.errorbar(stats.index, rate, yerr=[rate - [c.low for c in ci], [c.high for c in ci] - rate], capsize=2,
                            ls="-" if method == "layered BP" else "--", marker="o" if method == "layered BP" else "s",
                            color=f"C{k - 1}", label=f"{method}, ‖Γ₂‖0,∞ = {k}")
            ax.set(xlabel=label, title=f"layer {layer}", ylim=(-0.05, 1.05))
        axes[row, 0].set_ylabel("exact support rate")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return plotting.credit(fig, layer_sweep, fig_layers)


def fig_stability(df: pd.DataFrame) -> plt.Figure:
    """Measured error against each theorem's bound, per trial-layer where its condition holds: thresholding
    ‖Γ̂ᵢ − Γᵢ‖2,∞ against εᵢ, layered BP ‖Γ̂ᵢ − Γᵢ‖∞ against 7.5‖eᵢ₋₁‖2,∞ (noisy inputs only)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    thr = df[(df.method == "thresholding") & df.thr_condition]
    lbp = df[(df.method == "layered BP") & df.bp_condition & df.noisy]
    for ax, sub, title in ((axes[0], thr, "forward pass (theorem's β)"), (axes[1], lbp, "layered BP (λ = 4‖e‖2,∞)")):
        for layer, g in sub.groupby("layer"):
            ax.scatter(g.bound, g.error if title.startswith("layered") else g.theorem_error, s=8, alpha=0.5, label=f"layer {layer}")
        if len(sub):
            top = float(max(sub.bound.max(), 1e-3))
            ax.plot([0, top], [0, top], "k--", lw=1, label="bound")
        ax.set(xlabel="bound", ylabel="measured error", title=title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, layer_sweep, fig_stability)


def fig_unrolling(df: pd.DataFrame) -> plt.Figure:
    """Last-layer relative error of layered ISTA and FISTA against the number of unrolled steps per layer,
    with the tuned forward pass dashed."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for method, g in df[df.method != "forward pass, tuned β"].groupby("method"):
        m = g.groupby("k").rel_error.mean()
        ax.plot(m.index, m.values, "o-", label=method)
    ax.axhline(float(df[df.method == "forward pass, tuned β"].rel_error.mean()), color="k", ls="--", label="forward pass, tuned β")
    ax.set(xscale="log", yscale="log", xlabel="unrolled steps k per layer", ylabel="last layer ‖Γ̂ − Γ‖²/‖Γ‖² (mean)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, unrolling_sweep, fig_unrolling)


def fig_network_coherence(df: pd.DataFrame, shang: list[float]) -> plt.Figure:
    """Average coherence per conv layer of the small trained CNNs (mean over seeds, each seed a dot), at initialisation
    and of random filters, beside Shang's table."""
    means = df.groupby("layer").mean()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(range(1, len(shang) + 1), shang, "s-", label="all-conv net on ImageNet (Shang, in the slides)")
    ax.axhspan(min(shang), max(shang), color="C0", alpha=0.08)
    ax.plot(means.index, means["average (trained)"], "o-", color="C1", label="small CNN on MNIST, trained")
    ax.plot(df.layer, df["average (trained)"], ".", color="C1", alpha=0.5)
    ax.plot(means.index, means["average (init)"], "x--", color="C2", label="same CNN at initialisation")
    ax.plot(means.index, means["average (random null)"], "d:", color="C3", label="Gaussian filters of the same shape")
    ax.set(xlabel="conv layer", ylabel="average |⟨dᵢ, dⱼ⟩|, i ≠ j", ylim=(0, None))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, trained_cnn_coherence, fig_network_coherence)


def _paired(df: pd.DataFrame, column: str, a: dict, b: dict, on: list[str]) -> intervals.Interval:
    """Paired-bootstrap interval of mean(column | a) − mean(column | b) over rows matched on `on`."""
    def pick(sel: dict) -> pd.Series:
        mask = np.ones(len(df), dtype=bool)
        for key, value in sel.items():
            mask &= (df[key] == value).to_numpy()
        return df[mask].set_index(on)[column].astype(float).sort_index()
    x, y = pick(a), pick(b)
    x, y = x.align(y, join="inner")
    return intervals.paired_difference(x.to_numpy(), y.to_numpy())


def _failures(held: pd.Series, ok: pd.Series) -> tuple[int, int]:
    """(failures, cases): rows where a theorem's condition held but its conclusion did not."""
    return int((held & ~ok).sum()), int(held.sum())


def _theorem(key: str, statement: str, paper: str, held: pd.Series, ok: pd.Series, empty: str, note: str = "") -> claims.Claim:
    """An identity 'no failures where the condition holds', or not testable when it never holds; note is appended to
    what it measured (e.g. the cases per layer)."""
    failures, cases = _failures(held.astype(bool), ok.astype(bool))
    if cases == 0:
        return claims.not_testable(key, statement, paper, empty, measured=f"—{note}")
    return claims.identity(key, statement, paper, failures, 0, what="failures", n=cases,
                           detail=f"{cases:,} cases where the condition holds{note}")


def chapter_claims(cfg, single: pd.DataFrame, welch: float, twins: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                   stripe: pd.DataFrame, stripe_bound: float, global_bound: float, layers: pd.DataFrame,
                   unroll: pd.DataFrame, nets: pd.DataFrame) -> list[claims.Claim]:
    """The chapter's claims by kind, each decided from its measurements (margins from the preset)."""
    out = []
    below = single[single.k < single.bound]
    out.append(claims.identity("bound", "BP and OMP recover every x with ‖x‖₀ < ½(1+1/μ)", "Donoho–Elad 2003",
                               int((below.trials - below.successes).sum()), 0, what="failures", n=int(below.trials.sum())))
    bp = single[single.method == "BP"]
    far = bp[bp.k >= 2 * bp.bound].sort_values("k").groupby("dictionary").head(1)
    out.append(claims.empirical("pessimism", "the bound is very pessimistic: BP still recovers at twice ½(1+1/μ)",
                                "slides: 'very pessimistic'", intervals.proportion(int(far.successes.sum()), int(far.trials.sum())),
                                cfg.pessimism_rate, "above", what="BP recovery rate at the first ‖x‖₀ ≥ 2×bound", fmt=".2f",
                                detail=", ".join(f"{r.dictionary}: ‖x‖₀ = {r.k}" for r in far.itertuples())))
    rounded = 0.5 * (1 + 1 / 0.063)
    dev = max(abs(welch - 0.063) / 0.063, abs(rounded - 8.43) / 8.43)
    out.append(claims.identity("welch", "2 atoms of length 64: μ ≥ 0.063, global guarantee only for ‖Γ‖₀ < 8.43", "slides (Welch 1974)",
                               dev, 1e-2, what="relative Δ to the slides' 3 digits", detail=f"μ ≥ {welch:.4f}, ½(1+1/0.063) = {rounded:.3f}"))
    D, a, b = twins
    out.append(claims.identity("uniqueness_tight", "uniqueness needs ‖Γ‖0,∞ < ½(1+1/μ); the bound is within 2× of tight "
                               "(Dirac–Hadamard, n = 16: two 4-sparse codes of one signal, bound 2.5)", "Papyan et al. (uniqueness)",
                               float((D @ a - D @ b).abs().max()), 1e-12, what="max |D a − D b|"))
    guaranteed = stripe[stripe.local < stripe_bound]
    out.append(claims.identity("stripe", "under ‖Γ‖0,∞ < ½(1+1/μ) BP and OMP recover the convolutional code", "ℓ0,∞ theorem (Papyan et al.)",
                               int((guaranteed.trials - guaranteed.successes).sum()), 0, what="failures", n=int(guaranteed.trials.sum())))
    densest = guaranteed[guaranteed.local == guaranteed.local.max()].iloc[0]
    out.append(claims.control("stripe_global", "those signals carry more non-zeros than the global bound allows",
                              f"mean ‖Γ‖₀ > {global_bound:.2f} at the largest guaranteed ‖Γ‖0,∞",
                              f"mean ‖Γ‖₀ = {densest.l0:.1f} at ‖Γ‖0,∞ ≤ {int(densest.local)} "
                              f"(fewest in one signal: {int(densest.l0_min)})", bool(densest.l0 > global_bound)))
    thr = layers[layers.method == "thresholding"]
    lbp = layers[layers.method == "layered BP"]
    out.append(_theorem("thr_theorem", "forward pass: where the layered-thresholding condition holds (all layers up to i), the "
                        "theorem's β finds the support and ‖Γ̂ᵢ − Γᵢ‖2,∞ ≤ εᵢ", "Papyan et al.; Zhang Theorem 7",
                        thr.thr_condition, thr.theorem_ok, "the condition never held",
                        note=" (per layer: " + ", ".join(f"{int(g.sum()):,}" for _, g in
                                                          thr.thr_condition.astype(bool).groupby(thr.layer)) + ")"))
    noisy = lbp[lbp.noisy]
    vacuous = noisy.bp_condition & (noisy.bound >= noisy.code_max)  # an all-zero estimate meets the bound there
    out.append(_theorem("lbp_theorem", "layered BP with λ = 4‖e‖2,∞: where ‖Γᵢ‖0,∞ < ⅓(1+1/μᵢ), Ŝᵢ ⊆ Sᵢ and "
                        "‖Γ̂ᵢ − Γᵢ‖∞ ≤ 7.5‖eᵢ₋₁‖2,∞", "Papyan, Sulam & Elad 2016 (slides)", noisy.bp_condition & ~vacuous,
                        noisy.theorem_ok, "where the ⅓ condition held with noise, the bound 7.5‖eᵢ₋₁‖2,∞ was never below "
                        "max|Γᵢ|, so an all-zero estimate meets it: the bound cannot fail there",
                        note=f"; {int(vacuous.sum()):,} further cases left out: bound ≥ max|Γᵢ| (per layer: " + ", ".join(
                            f"{int(v.sum()):,} of {int(c.sum()):,}" for (_, v), (_, c) in
                            zip(vacuous.groupby(noisy.layer), noisy.bp_condition.groupby(noisy.layer))) + ")"))
    clean = lbp[lbp.bp_exact.notna()]
    uniq = clean.sort_values(["k", "trial", "layer"]).copy()
    uniq["all_unique"] = uniq.groupby(["k", "trial"]).unique_condition.cummin().astype(bool)
    out.append(_theorem("zhang8", "noiseless layered pursuit (exact BP per layer) recovers Γᵢ where every layer up to i has "
                        "‖Γⱼ‖0,∞ < ½(1+1/μⱼ) (the ½ of uniqueness, not the ⅓ of the noisy theorem)", "Zhang Theorem 8",
                        uniq.all_unique, uniq.bp_exact.astype(bool), "the ½ condition never held"))
    exact_values = int(thr.exact_values.sum())
    out.append(claims.control("never_exact", "a soft threshold with β > 0 never returns the exact values", "slides: ✗ always fails",
                              f"{exact_values} exact of {len(thr):,} trial-layers", exact_values == 0, n=len(thr)))
    top = int(layers.layer.max())
    low_c = min(layers[layers.axis == "contrast"].value)
    key = ["k", "trial"]
    iv = _paired(layers, "exact", dict(axis="contrast", value=1.0, layer=top, method="thresholding"),
                 dict(axis="contrast", value=low_c, layer=top, method="thresholding"), key).scaled(100)
    out.append(claims.empirical("ratio_thr", "the forward pass's success depends on the contrast |Γmin|/|Γmax|",
                                "slides (✗ success depends on ratio)", iv, 100 * cfg.ratio_drop, "above",
                                what=f"layer-{top} exact supports, contrast 1 − {low_c:g}", unit=" pts", fmt=".1f"))
    lbp_contrast = layers[(layers.axis == "contrast") & (layers.method == "layered BP") & (layers.layer == top)]
    changed = int((lbp_contrast.groupby(key).exact.nunique() > 1).sum())
    out.append(claims.identity("ratio_lbp", "without noise, layered BP's success does not depend on the contrast: exact ℓ1 "
                               "recovery depends only on the supports and signs, which the contrast leaves unchanged",
                               "slides (the ratio failing crossed out for layered Lasso)", changed, 0,
                               what="signals whose recovery changes with the contrast",
                               n=int(lbp_contrast.groupby(key).ngroups),
                               detail=f"layer {top}, σ = 0, contrasts {', '.join(f'{v:g}' for v in sorted(set(lbp_contrast.value)))}"))
    con = layers[layers.axis == "contrast"]
    out.append(claims.empirical("depth", "the forward pass's distance grows with the layer", "slides (✗ distance increases with layer)",
                                _paired(con, "rel_error", dict(layer=top, method="thresholding"), dict(layer=1, method="thresholding"),
                                        ["k", "value", "trial"]), cfg.depth_margin, "above",
                                what=f"relative error layer {top} − layer 1", fmt=".3f"))
    noise = layers[layers.axis == "noise"]
    for name, sigma in (("lbp_clean", 0.0), ("lbp_noise", float(noise.value.max()))):
        iv = _paired(noise, "exact", dict(value=sigma, layer=top, method="layered BP"),
                     dict(value=sigma, layer=top, method="thresholding"), key).scaled(100)
        out.append(claims.empirical(name, f"layered BP recovers more exact supports than the tuned forward pass at σ = {sigma:g}",
                                    "slides (layered Lasso removes the failings)", iv, 100 * cfg.lbp_gain, "above",
                                    what=f"layer-{top} exact supports, LBP − forward pass", unit=" pts", fmt=".1f"))
    kmax = int(unroll[unroll.method == "FISTA"].k.max())
    iv = _paired(unroll, "rel_error", dict(method="FISTA", k=kmax), dict(method="forward pass, tuned β"), ["trial"])
    ista = _paired(unroll, "rel_error", dict(method="ISTA", k=kmax), dict(method="forward pass, tuned β"), ["trial"])
    out.append(claims.empirical("unroll", f"{kmax} unrolled FISTA steps per layer beat the tuned forward pass",
                                "Zhang slides (unrolling)", iv, cfg.unroll_margin, "below",
                                what="last-layer relative error, FISTA − tuned forward pass", fmt=".3f",
                                detail=f"{kmax} layered ISTA steps: {ista.text('.3f')}"))
    out.append(claims.not_testable("resinit", "initialising a layer at the block input two layers back (Res-CSC's X₋₁) helps",
                                   "Zhang slides", "this ML-CSC model has no relation Γᵢ ≈ Γᵢ₋₂; the claim belongs to a Res-CSC "
                                   "generative model (chapter 3b), so it is not tested here"))
    low, high = min(cfg.shang), max(cfg.shang)
    centre, half = (low + high) / 2, (high - low) / 2
    means = nets.groupby("layer").mean()
    per_layer = {layer: intervals.over_seeds(g["average (trained)"].to_numpy()) for layer, g in nets.groupby("layer")}
    tightest = min(per_layer, key=lambda j: half - max(abs(per_layer[j].low - centre), abs(per_layer[j].high - centre)))
    outside = [int(j) for j, v in means["average (random null)"].items() if not low <= v <= high]
    worst_acc = float(nets["test accuracy"].min())
    out.append(claims.gated(claims.empirical(
        "nets", f"trained conv layers' average coherence lies in the range of Shang's table ({low:g}–{high:g})",
        "Shang 2015 (slides)", per_layer[tightest].shifted(centre), half, "within",
        what=f"layer-{tightest} average − {centre:g} (the layer nearest an edge)", fmt=".3f",
        detail=f"{nets.seed.nunique()} seeds; trained " + ", ".join(f"{v:.3f}" for v in means["average (trained)"])
        + "; init " + ", ".join(f"{v:.3f}" for v in means["average (init)"]) + "; random "
        + ", ".join(f"{v:.3f}" for v in means["average (random null)"])
        + (f" (outside the range at layer {', '.join(map(str, outside))})" if outside else " (random filters fall in the range too)")),
        worst_acc >= cfg.cnn_trained, f"the small CNN reaches {100 * worst_acc:.1f}% < {100 * cfg.cnn_trained:.0f}% MNIST test "
        "accuracy (worst seed): not yet a trained network like Shang's"))
    return out
