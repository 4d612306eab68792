"""Figures of the chapter 'a conv layer is non-negative orthogonal sparse coding'."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from scpaper import csc, plotting, scnet


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
    return plotting.credit(fig, breakdown, csc.coherence_sweep, csc.lambda_sweep)


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
    bx.set_title(f"(b) free training: {scnet.negative_lambda_share(model):.0%} of units have λᵢ < 0")
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
    return plotting.credit(fig, sparse_prior, scnet.sparse_prior_study)
