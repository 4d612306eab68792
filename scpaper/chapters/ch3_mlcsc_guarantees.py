"""The ML-CSC chapter's experiments (batched Monte-Carlo sweeps returning tables) and the figures drawn from them."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

from scpaper import coherence, mlcsc, pursuit, train
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.data import MNIST, load_mnist

low_coherence_filters = cached()(mlcsc.low_coherence_filters)
learned_dictionary = cached()(pursuit.learned_dictionary)


def _layer_rows(model: mlcsc.Model, codes: list[torch.Tensor], est: list[torch.Tensor], **labels) -> list[dict]:
    """One row per layer: mean support overlap, rate of exact supports, exact values, mean ℓ2,∞ error / |Γmax|."""
    rows = []
    for i, (c, e) in enumerate(zip(codes, est), start=1):
        sup = mlcsc.support_recovery(c, e)
        err = mlcsc.local_error(model, i, c, e) / c.abs().amax(1)
        rows.append({**labels, "layer": i, "support": float(sup.mean()), "exact_support": int((sup == 1).sum()),
                     "exact_values": int((err < 1e-6).sum()), "error": float(err.mean()), "trials": len(c)})
    return rows


def layer_sweep(model: mlcsc.Model, axis: str, values: list[float], *, ratio: float, noise: float, n_nonzeros: int,
                n_trials: int, lam: float, seed: int = 0) -> pd.DataFrame:
    """Layered thresholding (β tuned per layer on the trials) and layered BP (λ = lam + 2σ) against noise or ratio.

    Also records, per layer, the fraction of trials meeting each theorem's condition, and whether layered
    thresholding with the theorem's own β (middle of its interval) recovers the support where it holds.
    """
    if axis not in ("noise", "ratio"):
        raise ValueError(f"axis must be 'noise' or 'ratio', got {axis!r}")
    rows, grid = [], torch.linspace(0, 1, 41, dtype=torch.float64)
    for j, v in enumerate(values):
        r, s = (v, noise) if axis == "ratio" else (ratio, v)
        codes, Y = mlcsc.sample_signals(model, n_trials, n_nonzeros, (10 ** 6,) * model.depth, r, s, seed + j)
        cond = mlcsc.conditions(model, codes, Y - codes[0] @ model.dictionaries[0].T)
        thr = mlcsc.layered_thresholding(model, Y, mlcsc.tune_thresholds(model, Y, codes, grid))
        bp, _ = mlcsc.layered_bp(model, Y, [lam + 2 * s] * model.depth)
        theo = mlcsc.layered_thresholding(model, Y, [((cond.beta_low + cond.beta_high) / 2)[:, i:i + 1] for i in range(model.depth)])
        for method, est in (("thresholding", thr), ("layered BP", bp)):
            for row in _layer_rows(model, codes, est, axis=axis, value=v, method=method):
                i = row["layer"] - 1
                held = cond.thresholding[:, i] if method == "thresholding" else cond.bp[:, i]
                ok = mlcsc.support_recovery(codes[i], (theo if method == "thresholding" else bp)[i]) == 1
                rows.append({**row, "condition": float(held.double().mean()), "held": int(held.sum()),
                             "held_and_recovered": int((held & ok).sum())})
    return pd.DataFrame(rows)


def unrolling_sweep(model: mlcsc.Model, iterations: list[int], *, ratio: float, noise: float, n_nonzeros: int,
                    n_trials: int, lam: float, seed: int = 0) -> pd.DataFrame:
    """Layered ISTA and FISTA with k unrolled steps, from Γ⁰ = 0 and from Γ⁰ = the previous layer's estimate."""
    codes, Y = mlcsc.sample_signals(model, n_trials, n_nonzeros, (10 ** 6,) * model.depth, ratio, noise, seed)
    rows = []
    for k in iterations:
        for algo in ("ISTA", "FISTA"):
            for init in ("zero", "previous"):
                est = mlcsc.layered_ista(model, Y, [lam] * model.depth, k, fista=algo == "FISTA", init=init)
                rows += _layer_rows(model, codes, est, k=k, method=f"{algo}, Γ⁰ = {'0' if init == 'zero' else 'Γ̂ᵢ₋₁'}")
    bp, _ = mlcsc.layered_bp(model, Y, [lam] * model.depth)
    rows += _layer_rows(model, codes, bp, k=0, method="layered BP (converged)")
    return pd.DataFrame(rows)


def stripe_sweep(filters: torch.Tensor, n_positions: int, locals_: list[int], n_trials: int, seed: int = 0) -> pd.DataFrame:
    """Single-layer convolutional recovery by BP and OMP for signals with ‖Γ‖0,∞ ≤ k, as many atoms as fit."""
    D = mlcsc.conv_dictionary(filters, n_positions)
    model = mlcsc.Model((D,), (1, filters.shape[0]), (filters.shape[2],), n_positions)
    rows = []
    for j, k in enumerate(locals_):
        codes, Y = mlcsc.sample_signals(model, n_trials, n_positions, (k,), 0.1, 0.0, seed + j)
        x = codes[0]
        for method, solver in (("BP", pursuit.basis_pursuit), ("OMP", pursuit.omp)):
            ok = pursuit.recovered(x, solver(D, Y))
            rows.append({"local": k, "method": method, "successes": int(ok.sum()), "trials": n_trials,
                         "l0": float((x != 0).sum(1).double().mean()),
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


@cached(data=MNIST)
def trained_cnn_coherence(n_images: int, epochs: int, seed: int = 0) -> pd.DataFrame:
    """Train SmallCNN on n_images MNIST digits; per conv layer, coherences at initialisation and after training."""
    torch.manual_seed(seed)
    X, y = load_mnist("train")
    net = SmallCNN()
    before = conv_coherences(net)
    train.fit(net, X[:n_images], y[:n_images], epochs=epochs, batch_size=64, lr=0.05, seed=seed, progress=False)
    Xt, yt = load_mnist("test")
    acc = train.accuracy(net, Xt[:2000], yt[:2000])
    after = conv_coherences(net)
    return pd.DataFrame([{"layer": i + 1, "average (init)": b[0], "average (trained)": a[0], "mutual (trained)": a[1],
                          "test accuracy": acc} for i, (b, a) in enumerate(zip(before, after))])


def _rate(df: pd.DataFrame) -> pd.DataFrame:
    """Add rate, lo, hi (Wilson 95%) columns from successes and trials."""
    ci = [mlcsc.wilson(s, n) for s, n in zip(df.successes, df.trials)]
    return df.assign(rate=df.successes / df.trials, lo=[c[0] for c in ci], hi=[c[1] for c in ci])


def fig_single_layer(df: pd.DataFrame) -> plt.Figure:
    """Exact-recovery rate of BP and OMP against ‖x‖₀ per dictionary, with Wilson bands and the ½(1+1/μ) bound."""
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


def fig_layers(noise_df: pd.DataFrame, ratio_df: pd.DataFrame) -> plt.Figure:
    """Per layer: support overlap and ℓ2,∞ error of thresholding vs layered BP, against noise and ratio,
    with the fraction of trials meeting each theorem's condition dotted."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    for col, (df, label) in enumerate(((noise_df, "noise σ"), (ratio_df, "|Γmin|/|Γmax| (top layer)"))):
        for (method, layer), g in df.groupby(["method", "layer"]):
            ls = "-" if method == "layered BP" else "--"
            c = f"C{layer - 1}"
            axes[0, col].plot(g.value, g.support, ls, marker="o", color=c, label=f"{method}, layer {layer}")
            axes[0, col].plot(g.value, g.condition, ":", marker="x", color=c, alpha=0.6)
            axes[1, col].plot(g.value, g.error, ls, marker="o", color=c)
        axes[0, col].set(ylabel="support overlap (x: condition holds)", xlabel=label, ylim=(-0.05, 1.05))
        axes[1, col].set(ylabel="‖Γ̂ᵢ − Γᵢ‖2,∞ / |Γmax|", xlabel=label, yscale="symlog", )
        axes[1, col].set_yscale("symlog", linthresh=1e-3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return plotting.credit(fig, layer_sweep, fig_layers)


def fig_unrolling(df: pd.DataFrame) -> plt.Figure:
    """ℓ2,∞ error of the last layer against the number of unrolled iterations, per algorithm and initialisation."""
    last = df[df.layer == df.layer.max()]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for method, g in last[last.k > 0].groupby("method"):
        ax.plot(g.k, g.error, "o-", label=method)
    ax.axhline(float(last[last.k == 0].error.iloc[0]), color="k", ls="--", label="layered BP (converged)")
    ax.set(xscale="log", yscale="log", xlabel="unrolled iterations k per layer", ylabel=f"layer {df.layer.max()} ℓ2,∞ error / |Γmax|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, unrolling_sweep, fig_unrolling)


def fig_network_coherence(df: pd.DataFrame, shang: list[float]) -> plt.Figure:
    """Average coherence per conv layer of the small trained CNN (and at initialisation) beside Shang's table."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(range(1, len(shang) + 1), shang, "s-", label="all-conv net on ImageNet (Shang, in the slides)")
    ax.plot(df.layer, df["average (trained)"], "o-", label="small CNN on MNIST, trained")
    ax.plot(df.layer, df["average (init)"], "x--", label="same CNN at initialisation")
    ax.set(xlabel="conv layer", ylabel="average |⟨dᵢ, dⱼ⟩|, i ≠ j", ylim=(0, None))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plotting.credit(fig, trained_cnn_coherence, fig_network_coherence)


def chapter_claims(single: pd.DataFrame, welch: float, welch_count: float, stripe: pd.DataFrame, stripe_bound: float,
                   global_bound: float, noise_df: pd.DataFrame, ratio_df: pd.DataFrame, unroll: pd.DataFrame,
                   nets: pd.DataFrame, shang: list[float]) -> list:
    """The chapter's claims, each with its measured numbers and a verdict computed from them."""
    from scpaper.book.claims import Claim

    s = single.assign(rate=single.successes / single.trials)
    below = s[s.k < s.bound]
    full = s[s.rate == 1].groupby(["dictionary", "method"]).k.max()
    slack = {d: full.xs(d).min() / s[s.dictionary == d].bound.iloc[0] for d in dict.fromkeys(s.dictionary)}
    c1 = Claim("bound", "BP and OMP recover every x with ‖x‖₀ < ½(1+1/μ); the bound is pessimistic (by how much)", "Donoho–Elad 2003",
               f"{below.successes.sum()}/{below.trials.sum()} below bound; largest all-recovered ‖x‖₀ = "
               + ", ".join(f"{v:.1f}×bound ({d})" for d, v in slack.items()),
               bool((below.successes == below.trials).all() and max(slack.values()) > 1))
    st = stripe.assign(rate=stripe.successes / stripe.trials)
    guaranteed = st[st.local < stripe_bound]
    rounded = 0.5 * (1 + 1 / round(welch, 3))
    c2 = Claim("welch", "2 atoms of length 64: μ ≥ 0.063, global guarantee only for ‖Γ‖₀ < 8.43", "μ ≥ 0.063, 8.43",
               f"μ ≥ {welch:.4f}, ‖Γ‖₀ < {welch_count:.2f} ({rounded:.3f} with μ rounded to 0.063)",
               bool(abs(welch - 0.063) < 5e-4 and abs(rounded - 8.43) < 0.01))
    c3 = Claim("stripe", "under ‖Γ‖0,∞ < ½(1+1/μ) BP and OMP recover signals with many more non-zeros than the global bound",
               "ℓ0,∞ theorem (Papyan et al.)",
               f"{guaranteed.successes.sum()}/{guaranteed.trials.sum()} recovered with ‖Γ‖₀ ≈ {guaranteed.l0.max():.1f} "
               f"(global bound {global_bound:.2f})",
               bool(len(guaranteed) and (guaranteed.successes == guaranteed.trials).all() and guaranteed.l0.max() > global_bound))
    thr_r = ratio_df[ratio_df.method == "thresholding"]
    bp_r = ratio_df[ratio_df.method == "layered BP"]
    thr_n = noise_df[noise_df.method == "thresholding"]
    bp_n = noise_df[noise_df.method == "layered BP"]
    never = int(thr_r.exact_values.sum() + thr_n.exact_values.sum())
    c4 = Claim("never_exact", "the forward pass never recovers the representations exactly", "slides: ✗ always fails",
               f"{never} exact of {int(thr_r.trials.sum() + thr_n.trials.sum())} trial-layers", bool(never == 0))

    def spread(df: pd.DataFrame) -> float:
        by = df.groupby("value").support.mean()
        return float(by.max() - by.min())
    c5 = Claim("ratio", "forward-pass success depends on |Γmin|/|Γmax|; layered BP's much less", "slides",
               f"support overlap range over ratios: thresholding {spread(thr_r):.2f}, layered BP {spread(bp_r):.2f}",
               bool(spread(thr_r) > 0.1 and spread(bp_r) < spread(thr_r)))
    clean = thr_n[thr_n.value == thr_n.value.min()].sort_values("layer").error.to_numpy()
    clean_bp = bp_n[bp_n.value == bp_n.value.min()].sort_values("layer").error.to_numpy()
    c6 = Claim("depth", "the forward pass's error grows with the layer", "slides",
               "ℓ2,∞ error/|Γmax| per layer: " + ", ".join(f"{e:.3f}" for e in clean), bool((clean[1:] > clean[:-1]).all()))
    exact_bp = int(bp_n[bp_n.value == 0].exact_support.sum())
    total_bp = int(bp_n[bp_n.value == 0].trials.sum())
    c7 = Claim("lbp", "layered BP removes the failings: exact supports without noise, errors ≪ thresholding",
               "Papyan slides (✗ crossed out)",
               f"exact supports {exact_bp}/{total_bp} at σ = 0; clean errors " + ", ".join(f"{e:.1e}" for e in clean_bp),
               exact_bp > 0.9 * total_bp and bool((clean_bp < clean).all()))
    both = pd.concat([noise_df, ratio_df])
    held, ok = int(both.held.sum()), int(both.held_and_recovered.sum())
    pessimism = float((both.condition == 0).mean())
    c8 = Claim("conditions", "where a theorem's condition holds, its pursuit recovers the support",
               "thresholding & layered-BP theorems",
               f"{ok}/{held} held trial-layers recovered; condition never met in {pessimism:.0%} of configurations",
               bool(held > 0 and ok == held))
    last = unroll[unroll.layer == unroll.layer.max()]
    fz = last[last.method == "FISTA, Γ⁰ = 0"].sort_values("k")
    fp = last[last.method == "FISTA, Γ⁰ = Γ̂ᵢ₋₁"].sort_values("k")
    c9 = Claim("unroll", "more unrolled iterations recover better than the one-step forward pass", "Zhang slides",
               f"FISTA last-layer error {fz.error.iloc[0]:.3f} (k={fz.k.iloc[0]}) → {fz.error.iloc[-1]:.3f} (k={fz.k.iloc[-1]})",
               bool(fz.error.iloc[-1] < fz.error.iloc[0]))
    c10 = Claim("resinit", "initialising each layer at the previous estimate (Res-CSC) helps at few iterations",
                "Zhang slides: layer-initialisation is the key",
                f"k={fz.k.iloc[0]}: error {fp.error.iloc[0]:.3f} with Γ⁰ = Γ̂ᵢ₋₁ vs {fz.error.iloc[0]:.3f} with Γ⁰ = 0",
                bool(fp.error.iloc[0] < fz.error.iloc[0]))
    avg = nets["average (trained)"]
    c11 = Claim("nets", "trained conv layers have low average coherence, in the range of Shang's table",
                f"{min(shang):.3f}–{max(shang):.3f}",
                "small CNN: " + ", ".join(f"{a:.3f}" for a in avg) + f" (init {', '.join(f'{a:.3f}' for a in nets['average (init)'])})",
                bool(((avg >= min(shang) / 2) & (avg <= 1.5 * max(shang))).all()))
    return [c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11]
