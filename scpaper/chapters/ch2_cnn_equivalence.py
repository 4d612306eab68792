"""Chapter 2's experiments and figures: a conv layer with bias −λ and ReLU as non-negative orthogonal sparse coding."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import torch.nn.functional as F
from tqdm.auto import tqdm

from scpaper import csc, lasso, robustness, scnet, train
from scpaper.book import plotting
from scpaper.book.cache import cached
from scpaper.coherence import mutual_coherence
from scpaper.data import CIFAR10_SUBSET, MNIST, load_cifar10, load_mnist
from scpaper.data.natural_images import load_natural_images
from scpaper.whitening import whiten

trained = cached(data=MNIST)(scnet.trained)


def equivalence(image: torch.Tensor, W: torch.Tensor, lam: torch.Tensor, stride: int = 1, unit: int = 0) -> plt.Figure:
    """Bowren Fig 7 as numbers: one image, the orthonormal filters, one filter's ReLU-layer map, its certified
    per-patch LASSO map, and the |difference| (float64)."""
    x = image.double()[None] if image.dim() == 3 else image.double()
    relu = csc.relu_layer(x, W.double(), lam.double(), stride)[0, unit]
    codes, result = csc.patch_lasso(x, W.double(), lam.double(), stride)
    lasso = codes[0, unit]
    fig, axes = plt.subplots(1, 5, figsize=(14, 3.3))
    axes[0].imshow(x[0, 0], cmap="gray")
    axes[0].set_title("input x")
    plotting.tile_grid(axes[1], W.flatten(1), tuple(W.shape[-2:]))
    axes[1].set_title(f"{W.shape[0]} orthonormal\nfilters W")
    vmax = float(max(relu.max(), lasso.max()))
    axes[2].imshow(relu, cmap="magma", vmin=0, vmax=vmax)
    axes[2].set_title(f"(a) conv layer, filter {unit}:\nReLU(conv2d(x, w) − λ)")
    axes[3].imshow(lasso, cmap="magma", vmin=0, vmax=vmax)
    axes[3].set_title(f"(b) LASSO code per patch\n({result.certified_fraction:.0%} certified)")
    im = axes[4].imshow((relu - lasso).abs(), cmap="viridis")
    axes[4].set_title("|(a) − (b)|\nfloat64")
    fig.colorbar(im, ax=axes[4], fraction=0.046, format="%.1e")
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout()
    return plotting.credit(fig, equivalence, csc.relu_layer, csc.patch_lasso)


def breakdown(sweep: pd.DataFrame, signs: pd.DataFrame) -> plt.Figure:
    """(a) ReLU-layer vs LASSO gap against mutual coherence μ for several λ; (b) what the objective rewards as λ
    crosses zero (orthonormal filters): share of active units and reconstruction error."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for s, g in sweep.groupby("lam_scale"):
        ax.plot(g["mu"], g["gap"].clip(lower=1e-17), "o-", label=f"λ = {s:g}·rms(Φᵀp)")
    ax.set_yscale("log")
    ax.set_xlabel("mutual coherence μ of the filters")
    ax.set_ylabel("‖ReLU layer − LASSO code‖ / ‖LASSO code‖")
    ax.set_title("(a) the equivalence breaks as filters lose orthogonality")
    ax.legend(fontsize="small")
    bx.axvspan(signs["lam_scale"].min() - 0.1, 0, color="0.9", label="λ < 0: bias > 0, no prior")
    bx.plot(signs["lam_scale"], signs["active"], "o-", label="share of active units")
    bx.plot(signs["lam_scale"], signs["recon_error"], "s-", label="‖p − Φa‖² / ‖p‖²")
    bx.set_xlabel("λ / rms(Φᵀp)   (bias b = −λ)")
    bx.set_yscale("log")
    bx.set_title("(b) λ < 0 rewards activity, not reconstruction")
    bx.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, breakdown, coherence_sweep, csc.lambda_sweep)


@torch.no_grad()
def twin(model: scnet.SCNet, X: torch.Tensor) -> plt.Figure:
    """(a) logits of the stacked sparse-coding net against its plain nn.Conv2d/ReLU/nn.Linear twin;
    (b) the learned λ of every layer (λ < 0 is a positive bias, outside the sparse-coding model)."""
    model = model.cpu().eval()
    a, b = model(X).flatten(), scnet.to_cnn(model)(X).flatten()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.plot(a, b, ".", ms=2, alpha=0.5)
    lims = [float(min(a.min(), b.min())), float(max(a.max(), b.max()))]
    ax.plot(lims, lims, "k-", lw=0.8)
    ax.set_xlabel("SCNet logit (sparse-coding layers + softmax)")
    ax.set_ylabel("nn.Conv2d / ReLU / nn.Linear logit")
    ax.set_title(f"(a) same function: max |Δ| = {float((a - b).abs().max()):.1e}")
    for j, layer in enumerate(model.layers):
        bx.hist(layer.lam.detach().numpy(), bins=20, alpha=0.6, label=f"layer {j + 1}")
    bx.axvline(0, color="k", lw=0.8)
    bx.set_xlabel("learned λᵢ  (= −bias)")
    bx.set_ylabel("units")
    bx.set_title(f"(b) PyTorch's initialisation, decay on λ: {scnet.negative_lambda_share(model):.0%} have λᵢ < 0")
    bx.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, twin, scnet.to_cnn, scnet.trained)


def sparse_prior(table: pd.DataFrame, sigmas: list[float]) -> plt.Figure:
    """§5.1: test accuracy against input noise σ, and per-layer activity, for every trained variant."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for name, row in table.iterrows():
        ax.plot(sigmas, [row[f"test acc σ={s:g}"] for s in sigmas], "o-", label=name)
    ax.set_xlabel("Gaussian noise σ on test images")
    ax.set_ylabel("test accuracy")
    ax.set_title("(a) accuracy, clean and noisy")
    ax.legend(fontsize="small")
    layers = [c for c in table.columns if c.startswith("active L")]
    width = 0.8 / len(layers)
    pos = np.arange(len(table))
    for j, c in enumerate(layers):
        bx.bar(pos + j * width, table[c], width, label=c.replace("active ", "layer "))
    bx.set_xticks(pos + width * (len(layers) - 1) / 2, table.index, rotation=25, ha="right", fontsize="small")
    bx.set_ylabel("share of non-zero codes")
    bx.set_title("(b) activity on clean test images")
    bx.legend(fontsize="small")
    fig.tight_layout()
    return plotting.credit(fig, sparse_prior, sparse_prior_study)


OLD_RECIPE = "free λ, PyTorch init + decay on λ"


def sparse_prior_study(arch: dict, lam_mins: tuple[float, ...], lasso_steps: int, sigmas: tuple[float, ...],
                       seeds: tuple[int, ...], *, n_train: int, n_val: int, n_test: int, epochs: int, batch_size: int,
                       lr: float, device: torch.device, pgd_eps: float, pgd_steps: int,
                       pgd_images: int) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, scnet.SCNet]]:
    """Train every variant of scnet.variants (λ ≥ 0 at initialisation, no weight decay on λ) and the old recipe
    (PyTorch's bias initialisation, weight decay on λ); every variant once per seed, the LASSO variant and the old
    recipe (context for the claims, entering none of their comparisons) only for the first seed.

    Returns a table (one row per variant: the worst seed's training accuracy; means over seeds of validation/test
    accuracy on clean digits, under zero-mean unclipped Gaussian noise and under L∞ PGD (pgd_steps steps of radius
    pgd_eps on the first pgd_images test digits; the free CNN and the λ ≥ λ_min variants only), confidence on
    blank and pure-noise images, per-layer activity, λᵢ < 0 counts at initialisation and after training),
    per-image 0/1 correctness as (seeds, images) arrays (keys 'name|σ' and 'name|pgd'), per-image confidences on
    pure-noise images (key 'name|fool'), and the first seed's models."""
    data = scnet.mnist_split(n_train, n_val, n_test, seeds[0])
    Xt, yt = data["test"]
    fool = torch.randn((n_test, *Xt.shape[1:]), generator=torch.Generator().manual_seed(seeds[0]))
    plan = {**{name: (extra, False) for name, extra in scnet.variants(lam_mins, lasso_steps).items()},
            OLD_RECIPE: ({"lam_min": None}, True)}
    rows, per_image, models = [], {}, {}
    for name, (extra, lam_decay) in tqdm(plan.items(), desc="variants", leave=False):
        for seed in seeds[:1] if extra.get("lasso_steps") or lam_decay else seeds:
            record = trained({**arch, **extra}, n_train=n_train, n_val=n_val, epochs=epochs, batch_size=batch_size,
                             lr=lr, seed=seed, device=device, lam_decay=lam_decay)
            model = scnet.load(record, device)
            models.setdefault(name, model)
            split = scnet.mnist_split(n_train, n_val, n_test, seed)
            row = {"model": name, "seed": seed, "train acc": train.accuracy(model, *split["train"], device=device),
                   "val acc": train.accuracy(model, *split["val"], device=device)}
            for s in sigmas:
                correct = (train.predict(model, scnet.add_noise(Xt, s, seed, clip=False), device=device) == yt).numpy()
                per_image.setdefault(f"{name}|{s:g}", []).append(correct.astype(float))
                row[f"test acc σ={s:g}"] = float(correct.mean())
            with torch.no_grad():
                confidence = torch.softmax(model(fool.to(device)).float(), 1).max(1).values.cpu().numpy()
                row["confidence blank"] = float(torch.softmax(model(torch.zeros_like(Xt[:1]).to(device)).float(), 1).max())
            per_image.setdefault(f"{name}|fool", []).append(confidence)
            if not (lam_decay or extra.get("orthonormal") or extra.get("lasso_steps")):  # the PGD claim's two sides
                xa, ya = Xt[:pgd_images].to(device), yt[:pgd_images]
                adv = robustness.pgd(model, xa, ya.to(device), norm="linf", eps=pgd_eps, steps=pgd_steps, seed=seed)
                robust = (train.predict(model, adv, device=device) == ya).numpy()
                per_image.setdefault(f"{name}|pgd", []).append(robust.astype(float))
                row["test acc PGD"] = float(robust.mean())
            row["confidence noise"] = float(confidence.mean())
            for j, share in enumerate(scnet.activity(model, Xt)):
                row[f"active L{j + 1}"] = share
            row["λ<0 at init"] = int(sum(int((lam < 0).sum()) for lam in record["initial_lam"]))
            row["λ<0 trained"] = scnet.negative_count(model)
            row["units"] = int(sum(layer.lam.numel() for layer in model.layers))
            rows.append(row)
    table = pd.DataFrame(rows).groupby("model", sort=False).agg(
        {**{c: "mean" for c in pd.DataFrame(rows).columns if c not in ("model", "seed", "train acc", "λ<0 at init", "λ<0 trained", "units")},
         "train acc": "min", "λ<0 at init": "sum", "λ<0 trained": "sum", "units": "sum", "seed": "count"}
    ).rename(columns={"seed": "seeds", "train acc": "train acc (worst seed)"})
    return table, {k: np.stack(v) for k, v in per_image.items()}, models


@torch.no_grad()
def layer_gaps(model: scnet.SCNet, X: torch.Tensor) -> pd.DataFrame:
    """Per layer of a trained ReLU network: mutual coherence of its filters, and the relative gap between its own
    output (its λᵢ, negative ones included) and the certified non-negative LASSO code of its filters on every patch of
    its actual input (λᵢ < 0 set to 0, where the LASSO has no sparse-coding meaning); the gap is also given per image
    for intervals, and with λᵢ clamped on both sides, which leaves the filters' coherence as the only difference."""
    model = model.cpu().eval()
    rows, x = [], X.double()
    for j, layer in enumerate(model.layers):
        layer.project()
        W, lam = layer.weight.detach().double(), layer.lam.detach().double()
        relu = csc.relu_layer(x, W, lam, layer.stride)  # what the network computes
        clamped = csc.relu_layer(x, W, lam.clamp(min=0), layer.stride)
        codes, result = csc.patch_lasso(x, W, lam.clamp(min=0), layer.stride)
        per_image = ((relu - codes).flatten(1).norm(dim=1) / codes.flatten(1).norm(dim=1).clamp_min(1e-300))
        rows.append({"layer": j + 1, "filters": W.shape[0], "dimension": W[0].numel(), "mu": mutual_coherence(csc.dictionary(W)),
                     "share λ<0": float((lam < 0).double().mean()), "relative gap": float((relu - codes).norm() / codes.norm()),
                     "gap, λ ≥ 0 both": float((clamped - codes).norm() / codes.norm()),
                     "max |ReLU − LASSO|": float((relu - codes).abs().max()), "certified": result.certified_fraction,
                     "per_image": per_image.numpy()})
        x = relu  # the network's own activations feed the next layer
    return pd.DataFrame(rows).set_index("layer")


def unbounded_frequency(d: int, ratios: tuple[float, ...], trials: int, seed: int) -> pd.DataFrame:
    """For Gaussian dictionaries of ratio·d atoms in d dimensions: how often the LP finds an unbounded direction,
    beside Wendel's probability."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for r in tqdm(ratios, desc="Wendel", leave=False):
        n = int(round(r * d))
        hits = sum(csc.unbounded_direction(torch.randn(d, n, generator=gen, dtype=torch.float64)) is not None
                   for _ in range(trials))
        rows.append({"over-completeness": r, "atoms": n, "trials": trials, "unbounded": hits, "Wendel": csc.wendel_probability(n, d)})
    return pd.DataFrame(rows)


def equivalence_inputs(n_images: int, crop: int, seed: int) -> dict[str, torch.Tensor]:
    """Float64 image batches (N, C, H, W) for the equivalence check: whitened van Hateren crops, CIFAR-10 colour, MNIST."""

    if n_images <= 0 or crop <= 8:
        raise ValueError(f"n_images must be positive and crop larger than 8, got {n_images}, {crop}")
    rng = np.random.default_rng(seed)
    white = [whiten(im) for im in load_natural_images("vanhateren")]
    crops = []
    for i in range(n_images):
        im = white[i % len(white)]
        r, c = (int(rng.integers(8, s - crop - 8)) for s in im.shape)
        crops.append(im[r:r + crop, c:c + crop])
    cifar = load_cifar10("test")[0][:n_images].to(torch.float64) / 255.0
    mnist = load_mnist("test", slice(0, n_images))[0].to(torch.float64)
    return {"van Hateren (whitened)": torch.stack(crops)[:, None], "CIFAR-10 (colour)": cifar, "MNIST": mnist[:, None]}


@cached(data=MNIST + CIFAR10_SUBSET)
def equivalence_table(n_images: int, crop: int, lam_scale: float, seed: int, strides: tuple[int, ...] = (1, 2),
                      dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)) -> pd.DataFrame:
    """Claim 1 (Fig 7): for random orthonormal filters and λᵢ > 0, compare the ReLU layer with the
    certified per-patch non-negative LASSO on every input of CASES, at every stride and dtype."""
    inputs = equivalence_inputs(n_images, crop, seed)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for name, k, n_filters in tqdm(csc.CASES, desc="equivalence", leave=False):
        if name == "MNIST layer-1 maps":  # the stacked case: layer 2 codes layer 1's non-negative code maps
            W1 = csc.orthonormal_filters(16, 1, 5, gen)
            x = csc.relu_layer(inputs["MNIST"], W1, csc.per_atom_lambda(inputs["MNIST"], W1, lam_scale, gen))
        else:
            x = inputs[name]
        W = csc.orthonormal_filters(n_filters, x.shape[1], k, gen)
        for stride in strides:
            lam = csc.per_atom_lambda(x, W, lam_scale, gen, stride)
            for row in csc.compare(x, W, lam, stride, dtypes):
                rows.append({"input": name, "channels": x.shape[1], "kernel": k, "filters": n_filters, "stride": stride, **row})
    return pd.DataFrame(rows)


@cached()
def coherence_sweep(X: torch.Tensor, n_filters: int, ts: tuple[float, ...], lam_scales: tuple[float, ...],
                    seed: int) -> pd.DataFrame:
    """Claim 2: move unit-norm filters from an orthonormal set (t=0) to random (t=1); per step record μ and the gap
    ‖ReLU(Φᵀp − λ) − a*‖/‖a*‖ between the ReLU layer and the certified non-negative LASSO code a* of patches X."""
    if X.dim() != 2:
        raise ValueError(f"X must hold flattened patches (n, dim), got {tuple(X.shape)}")
    k = int(round(X.shape[1] ** 0.5))
    if k * k != X.shape[1]:
        raise ValueError(f"patches must be square, got dimension {X.shape[1]}")
    gen = torch.Generator().manual_seed(seed)
    W0 = csc.orthonormal_filters(n_filters, 1, k, gen)
    W1 = csc.random_unit_filters(n_filters, 1, k, gen)
    rms = (X @ csc.dictionary(W0)).pow(2).mean().sqrt()
    rows = []
    for t in tqdm(ts, desc="coherence sweep", leave=False):
        D = csc.dictionary(csc.interpolate_filters(W0, W1, t))
        relu_in = X @ D
        for s in lam_scales:
            lam = float(s * rms)
            result = lasso.solve(D, X, lam, nonneg=True)
            relu = F.relu(relu_in - lam)
            gap = (relu - result.codes).norm() / result.codes.norm().clamp_min(1e-300)
            rows.append({"t": t, "mu": mutual_coherence(D), "lam_scale": s, "lam": lam, "gap": float(gap),
                         "max_abs_diff": float((relu - result.codes).abs().max()), "certified": float(result.certified_fraction)})
    return pd.DataFrame(rows)
