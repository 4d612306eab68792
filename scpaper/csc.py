"""Sliding-window sparse coding: patches, the convolutional dictionary, and a ReLU conv layer read as
non-negative LASSO on every patch (Bowren §3.2, §4.3, Fig 7).

Filters are tensors W of shape (n_filters, channels, k, k). Flattened, they are the columns of a patch
dictionary Φ = W.reshape(n_filters, -1)ᵀ, so that conv2d(x, W) = Φᵀ p at every sliding-window patch p.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

from scpaper import lasso


def _check_images(x: torch.Tensor) -> None:
    """One-line ValueError unless x is a finite (N, C, H, W) batch."""
    if x.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf values")


def _check_filters(W: torch.Tensor, x: torch.Tensor | None = None) -> None:
    """One-line ValueError unless W is (n, C, k, k) and matches x's channels."""
    if W.dim() != 4 or W.shape[-1] != W.shape[-2]:
        raise ValueError(f"expected square filters of shape (n, C, k, k), got {tuple(W.shape)}")
    if x is not None and x.shape[1] != W.shape[1]:
        raise ValueError(f"filters have {W.shape[1]} channels but the images have {x.shape[1]}")


def patches(x: torch.Tensor, kernel_size: int, stride: int = 1) -> torch.Tensor:
    """Every sliding-window patch of x (N, C, H, W), flattened: (N, n_positions, C·k·k), row-major positions."""
    _check_images(x)
    if kernel_size <= 0 or stride <= 0:
        raise ValueError(f"kernel_size and stride must be positive, got {kernel_size}, {stride}")
    return F.unfold(x, kernel_size, stride=stride).transpose(1, 2)


def dictionary(W: torch.Tensor) -> torch.Tensor:
    """The patch dictionary Φ (C·k·k × n_filters) whose columns are the flattened filters."""
    _check_filters(W)
    return W.reshape(W.shape[0], -1).T


def analysis(x: torch.Tensor, W: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Dᵀx of the convolutional dictionary: conv2d(x, W), i.e. Φᵀp at every patch p."""
    _check_filters(W, x)
    return F.conv2d(x, W, stride=stride)


def synthesis(a: torch.Tensor, W: torch.Tensor, stride: int, size: tuple[int, int]) -> torch.Tensor:
    """D a of the convolutional dictionary: Σ_k d_k * a_k as conv_transpose2d, cropped/padded to size (H, W)."""
    _check_filters(W)
    k = W.shape[-1]
    extra = [s - ((n - 1) * stride + k) for s, n in zip(size, a.shape[-2:])]
    if not all(0 <= e < stride for e in extra):
        raise ValueError(f"codes of spatial size {tuple(a.shape[-2:])} cannot come from images of size {size} at stride {stride}")
    return F.conv_transpose2d(a, W, stride=stride, output_padding=tuple(extra))


def orthonormal_filters(n_filters: int, channels: int, kernel_size: int, generator: torch.Generator,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n_filters filters whose flattened forms are orthonormal (the Q of a QR of a Gaussian matrix)."""
    dim = channels * kernel_size**2
    if not 0 < n_filters <= dim:
        raise ValueError(f"an orthonormal set in {dim} dimensions has 1..{dim} filters, got {n_filters}")
    q, r = torch.linalg.qr(torch.randn(dim, n_filters, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))  # the sign fix makes Q Haar-distributed
    return q.T.reshape(n_filters, channels, kernel_size, kernel_size).to(dtype)


def unit_filters(W: torch.Tensor) -> torch.Tensor:
    """W with every filter rescaled to unit ℓ2 norm."""
    _check_filters(W)
    return W / W.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def orthonormalize_filters(W: torch.Tensor) -> torch.Tensor:
    """The nearest filter bank whose flattened filters are orthonormal (polar factor UVᵀ of W.flatten(1), float64 SVD)."""
    _check_filters(W)
    flat = W.flatten(1)
    if flat.shape[0] > flat.shape[1]:
        raise ValueError(f"{flat.shape[0]} filters cannot be orthonormal in {flat.shape[1]} dimensions")
    U, _, Vh = torch.linalg.svd(flat.double(), full_matrices=False)
    return (U @ Vh).reshape(W.shape).to(W.dtype)


def random_unit_filters(n_filters: int, channels: int, kernel_size: int, generator: torch.Generator,
                        dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n_filters Gaussian random filters, each of unit ℓ2 norm."""
    if n_filters <= 0:
        raise ValueError(f"n_filters must be positive, got {n_filters}")
    W = torch.randn(n_filters, channels, kernel_size, kernel_size, generator=generator, dtype=torch.float64)
    return unit_filters(W).to(dtype)


def interpolate_filters(W0: torch.Tensor, W1: torch.Tensor, t: float) -> torch.Tensor:
    """Unit-norm filters on the path from W0 (t=0) to W1 (t=1): normalise((1 − t)·W0 + t·W1)."""
    if W0.shape != W1.shape:
        raise ValueError(f"filter banks differ in shape: {tuple(W0.shape)} and {tuple(W1.shape)}")
    if not 0 <= t <= 1:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    return unit_filters((1 - t) * W0 + t * W1)


def relu_layer(x: torch.Tensor, W: torch.Tensor, lam: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """A CNN layer with bias b = −λ: ReLU(conv2d(x, W) + b), shape (N, n_filters, H', W')."""
    _check_filters(W, x)
    return F.relu(F.conv2d(x, W, bias=-lam.to(x.dtype), stride=stride))


def patch_lasso(x: torch.Tensor, W: torch.Tensor, lam: torch.Tensor, stride: int = 1) -> tuple[torch.Tensor, lasso.LassoResult]:
    """The certified non-negative LASSO code of every patch, min ½‖p − Φa‖² + Σλᵢaᵢ, a ≥ 0.

    Returns (codes laid out like a conv output (N, n_filters, H', W'), the solver's result).
    """
    _check_images(x)
    _check_filters(W, x)
    n, _, h, w = x.shape
    k = W.shape[-1]
    out_h, out_w = (h - k) // stride + 1, (w - k) // stride + 1
    P = patches(x, k, stride).reshape(-1, dictionary(W).shape[0])
    result = lasso.solve(dictionary(W), P, lam.to(x.dtype), nonneg=True)
    codes = result.codes.reshape(n, out_h, out_w, -1).permute(0, 3, 1, 2)
    return codes, result


def per_atom_lambda(x: torch.Tensor, W: torch.Tensor, scale: float, generator: torch.Generator,
                    stride: int = 1) -> torch.Tensor:
    """λᵢ = scale · rms(Φᵀp) · uᵢ with uᵢ ~ U(0.5, 1.5): one positive threshold per filter, in units of the responses."""
    if scale <= 0:
        raise ValueError(f"scale must be positive for λᵢ > 0, got {scale}")
    rms = analysis(x, W, stride).pow(2).mean().sqrt()
    u = 0.5 + torch.rand(W.shape[0], generator=generator, dtype=torch.float64)
    return (scale * rms * u).to(x.dtype)


def compare(x: torch.Tensor, W: torch.Tensor, lam: torch.Tensor, stride: int = 1,
            dtypes: tuple[torch.dtype, ...] = (torch.float64,)) -> list[dict[str, float]]:
    """ReLU layer run in each dtype vs the certified non-negative LASSO code of every patch (solved once, in float64):
    max |difference|, relative gap and the certified share, one row per dtype."""
    codes, result = patch_lasso(x.double(), W.double(), lam.double(), stride)
    rows = []
    for dtype in dtypes:
        diff = relu_layer(x.to(dtype), W.to(dtype), lam.to(dtype), stride).double() - codes
        rows.append({"dtype": str(dtype).removeprefix("torch."), "patches": int(codes.shape[0] * codes.shape[2] * codes.shape[3]),
                     "max |code|": float(codes.abs().max()), "max |ReLU − LASSO|": float(diff.abs().max()),
                     "relative gap": float(diff.norm() / codes.norm().clamp_min(1e-300)),
                     "certified": float(result.certified_fraction)})
    return rows


# (input, kernel size, filters); the last row codes MNIST's layer-1 feature maps (multi-channel input)
CASES = (("van Hateren (whitened)", 8, 64), ("CIFAR-10 (colour)", 5, 48), ("MNIST", 5, 25), ("MNIST layer-1 maps", 3, 64))


def gap_grows_with_mu(sweep: pd.DataFrame) -> float:
    """The smallest Spearman correlation between μ and the gap over the λ values of a coherence sweep."""
    return float(min(stats.spearmanr(g["mu"], g["gap"]).statistic for _, g in sweep.groupby("lam_scale")))


def lambda_sweep(X: torch.Tensor, W: torch.Tensor, magnitudes: tuple[float, ...]) -> pd.DataFrame:
    """For orthonormal filters and λ = ±m·rms(Φᵀp) (both signs, and 0), the exact minimiser a = ReLU(Φᵀp − λ) of
    ½‖p − Φa‖² + λΣa over a ≥ 0, and what it achieves: share of active units, relative reconstruction
    error, the objective, and the code every unit takes on a blank (all-zero) patch.

    For orthonormal Φ the objective is separable and strongly convex in a, so the ReLU code is its exact
    minimiser for every λ, negative included; there is no LASSO to certify when λ < 0.
    """
    D = dictionary(W)
    if not torch.allclose(D.T @ D, torch.eye(D.shape[1], dtype=D.dtype), atol=1e-8):
        raise ValueError("lambda_sweep needs orthonormal filters (ΦᵀΦ = I)")
    U = X @ D
    rms = float(U.pow(2).mean().sqrt())
    rows = []
    for s in sorted({0.0, *magnitudes, *(-m for m in magnitudes)}):
        lam = s * rms
        A = F.relu(U - lam)
        R = X - A @ D.T
        rows.append({"lam_scale": s, "lam": lam, "active": float((A > 0).double().mean()),
                     "recon_error": float(R.pow(2).sum() / X.pow(2).sum()),
                     "objective": float((0.5 * R.pow(2).sum(1) + lam * A.sum(1)).mean()), "blank_code": max(0.0, -lam)})
    return pd.DataFrame(rows)


def unbounded_direction(D: torch.Tensor) -> torch.Tensor | None:
    """A v ≥ 0, Σv = 1 with Dv = 0 if one exists (then with λ < 0 the objective falls without bound along v), else None."""
    from scipy.optimize import linprog

    A = D.detach().cpu().double().numpy()
    n = A.shape[1]
    res = linprog(np.zeros(n), A_eq=np.vstack([A, np.ones((1, n))]), b_eq=np.r_[np.zeros(A.shape[0]), 1.0],
                  bounds=[(0, None)] * n, method="highs")
    return torch.from_numpy(res.x) if res.status == 0 else None


def wendel_probability(n: int, d: int) -> float:
    """Wendel's probability that n symmetric random vectors in general position in R^d are NOT all in one open
    half-space, which (Gordan) is when a v ≥ 0, v ≠ 0 with Φv = 0 exists: 1 − 2^{−(n−1)} Σ_{k<d} C(n−1, k)."""
    if n <= 0 or d <= 0:
        raise ValueError(f"n and d must be positive, got {n}, {d}")
    return float(stats.binom.sf(d - 1, n - 1, 0.5))
