"""Robustness of SDNet by test-time λ: CIFAR-10-C noises, Algorithm 1's λ(residual), and PGD attacks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import skimage.util
import torch
from torch import nn
from torch.nn import functional as F

from scpaper import sdnet

# CIFAR-10-C's five severities (Hendrycks & Dietterich 2019, make_cifar_c.py)
SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian": (0.04, 0.06, 0.08, 0.09, 0.10),  # σ of additive N(0, σ²) on [0, 1] images
    "shot": (500, 250, 100, 75, 50),  # photons per unit intensity: Poisson(x·c)/c
    "speckle": (0.06, 0.10, 0.12, 0.16, 0.20),  # σ of multiplicative noise x + x·N(0, σ²)
    "impulse": (0.01, 0.02, 0.03, 0.05, 0.07),  # salt-and-pepper amount (skimage random_noise 's&p')
}
CORRUPTIONS = tuple(SEVERITIES)
SPLITS = ("test", "val", "train")  # each split draws its own noise


def corrupt(images: torch.Tensor, kind: str, severity: int, seed: int = 0, split: str = "test") -> torch.Tensor:
    """CIFAR-10-C noise of a kind at severity 1–5 (0 = clean) on uint8 images (N, 3, H, W); uint8 out.

    Formulas as in Hendrycks & Dietterich's make_cifar_c.py on x/255, clipped to [0, 1], then stored as
    uint8 by truncation like the published data set. The noise depends only on (seed, split, kind,
    severity): validation and test images never share a noise draw.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if kind not in SEVERITIES:
        raise ValueError(f"unknown corruption {kind!r}: choose one of {', '.join(CORRUPTIONS)}")
    if severity not in range(6):
        raise ValueError(f"severity must be an integer 0–5, got {severity!r}")
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if severity == 0:
        return images.clone()
    x = images.numpy().astype(np.float64) / 255
    c = SEVERITIES[kind][severity - 1]
    rng = np.random.default_rng([seed, SPLITS.index(split), CORRUPTIONS.index(kind), severity])
    if kind == "gaussian":
        x = x + rng.normal(size=x.shape, scale=c)
    elif kind == "shot":
        x = rng.poisson(x * c) / c
    elif kind == "speckle":
        x = x + x * rng.normal(size=x.shape, scale=c)
    else:
        x = skimage.util.random_noise(x, mode="s&p", amount=c, rng=rng)
    return torch.from_numpy(np.uint8(np.clip(x, 0, 1) * 255))


def corrupt_all(images: torch.Tensor, seed: int, split: str, workers: int) -> dict[tuple[str, int], torch.Tensor]:
    """corrupt() at every kind and severity 1–5, keyed (kind, severity), drawn in `workers` threads.

    Each set has its own random stream, so the sets are those corrupt() gives one by one; numpy draws and
    computes outside the GIL, so threads share the work.
    """
    jobs = [(kind, s) for kind in CORRUPTIONS for s in range(1, 6)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip(jobs, pool.map(lambda job: corrupt(images, job[0], job[1], seed, split=split), jobs)))


@torch.no_grad()
def scores(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500,
           residual: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-image correctness (bool) of model on uint8 or [0, 1] images X, and per-image CSC residuals ‖x̃ − Dc‖₂ if asked."""
    device = next(model.parameters()).device
    correct, res = [], []
    for i in range(0, len(X), batch_size):
        xb = sdnet.to_unit(X[i:i + batch_size].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            correct.append((model(xb).argmax(1).cpu() == y[i:i + batch_size].cpu()).numpy())
        if residual:
            res.append(model.stem_residual(xb).float().cpu().numpy())
    return np.concatenate(correct), (np.concatenate(res).astype(np.float64) if residual else None)


@torch.no_grad()
def stem_residuals(model: nn.Module, X: torch.Tensor, *, batch_size: int = 500) -> np.ndarray:
    """Per-image CSC residual ‖x̃ − Dc‖₂ of an SDNet's stem on uint8 or [0, 1] images X (the stem alone, fp32)."""
    device = next(model.parameters()).device
    return np.concatenate([model.stem_residual(sdnet.to_unit(X[i:i + batch_size].to(device))).float().cpu().numpy()
                           for i in range(0, len(X), batch_size)]).astype(np.float64)


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500,
             residual: bool = False) -> tuple[float, float]:
    """Accuracy of model on uint8 or [0, 1] images X, and the mean CSC residual ‖x̃ − Dc‖₂ (NaN unless asked)."""
    correct, res = scores(model, X, y, batch_size=batch_size, residual=residual)
    return float(correct.mean()), (float(res.mean()) if residual else float("nan"))


def fit_lambda_of_residual(residual: np.ndarray, best_lam: np.ndarray) -> tuple[float, float]:
    """Algorithm 1, line 12: least-squares line λ(r) = a + b·r through the (r_c, λ_c) pairs; returns (a, b)."""
    residual, best_lam = np.asarray(residual, float), np.asarray(best_lam, float)
    if residual.shape != best_lam.shape or residual.size < 2:
        raise ValueError(f"need ≥ 2 matching (residual, λ) pairs, got shapes {residual.shape} and {best_lam.shape}")
    b, a = np.polyfit(residual, best_lam, 1)
    return float(a), float(b)


def algorithm1(val: dict, test: dict, lam0: float) -> dict[str, np.ndarray]:
    """Fit λ(r) per corruption kind on the validation sweep; apply it blind to the test sweep.

    For every kind and severity returns the test accuracy at the fixed trained λ0, at Algorithm 1's
    λ(r_test) (clipped to the swept range, rounded to the nearest swept value), at the 'informed' λ (the best
    on the validation images of the same kind and severity: it knows the noise, which Algorithm 1 does not,
    and is scored on images it was not chosen on) and at the oracle best λ on the test set itself (chosen and
    scored on the same images, so biased upward), with the λ each one used, its index in the grid
    ('j_fixed', 'j_algorithm1', 'j_informed', 'j_oracle') and the fitted coefficients (a, b).
    """
    lams = np.asarray(test["lams"])
    if tuple(val["lams"]) != tuple(test["lams"]):
        raise ValueError("validation and test sweeps must use the same λ grid")
    j0 = int(np.argmin(np.abs(lams - lam0)))
    j_val = val["acc"].argmax(2)
    best_val = lams[j_val]
    coef = np.array([fit_lambda_of_residual(val["residual"][k], best_val[k]) for k in range(len(val["kinds"]))])
    predicted = np.clip(coef[:, :1] + coef[:, 1:] * test["residual"], lams.min(), lams.max())
    j_alg = np.abs(predicted[..., None] - lams).argmin(2)
    pick = lambda j: np.take_along_axis(test["acc"], j[..., None], 2)[..., 0]  # noqa: E731
    j_oracle = test["acc"].argmax(2)
    return {"fixed": test["acc"][:, :, j0], "algorithm1": pick(j_alg), "informed": pick(j_val), "oracle": pick(j_oracle),
            "lam_algorithm1": lams[j_alg], "lam_informed": best_val, "lam_oracle": lams[j_oracle], "coef": coef,
            "j_fixed": np.full_like(j_alg, j0), "j_algorithm1": j_alg, "j_informed": j_val, "j_oracle": j_oracle}


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, norm: str, eps: float, steps: int,
        step_size: float | None = None, restarts: int = 1, seed: int = 0, random_start: bool = True) -> torch.Tensor:
    """Projected gradient ascent on cross-entropy within an L∞ or L2 ball of radius eps around x ∈ [0, 1].

    Random start in the ball, `steps` signed (L∞) or normalised (L2) gradient steps of step_size (default
    2.5·eps/steps, Madry et al.), projection onto the ball and onto [0, 1]. Over restarts, each image keeps
    the first perturbation that fools the model, else the one of highest loss; a restart therefore attacks
    only the images no earlier restart fooled (their random starts are drawn as for the whole batch, so the
    result is the same as attacking every image every time). random_start=False starts at x itself (every
    restart then repeats the same deterministic ascent).
    """
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if eps < 0 or steps < 0 or restarts < 1:
        raise ValueError(f"need eps ≥ 0, steps ≥ 0, restarts ≥ 1, got {eps}, {steps}, {restarts}")
    step_size = 2.5 * eps / max(steps, 1) if step_size is None else step_size
    model.eval()
    device = x.device
    gen = torch.Generator(device).manual_seed(seed)
    use_amp = device.type == "cuda"

    def loss_of(z: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(z)
        return F.cross_entropy(logits.float(), t, reduction="none"), logits.argmax(1) != t

    def project(x0: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        if norm == "linf":
            delta = delta.clamp(-eps, eps)
        else:
            n = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
            delta = delta * (eps / n).clamp(max=1)
        return (x0 + delta).clamp(0, 1) - x0

    best, best_loss, fooled = x.clone(), torch.full((len(x),), -float("inf"), device=device), torch.zeros(len(x), dtype=torch.bool, device=device)
    for _ in range(restarts):
        if not random_start:
            delta = torch.zeros_like(x)
        elif norm == "linf":
            delta = (torch.rand(x.shape, generator=gen, device=device) * 2 - 1) * eps
        else:
            d = torch.randn(x.shape, generator=gen, device=device)
            r = torch.rand(len(x), 1, 1, 1, generator=gen, device=device) * eps
            delta = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * r
        active = (~fooled).nonzero().squeeze(1)
        if len(active) == 0:
            break
        xa, ya = x[active], y[active]
        delta = project(xa, delta[active])
        for _ in range(steps):
            delta.requires_grad_(True)
            loss, _ = loss_of(xa + delta, ya)
            (grad,) = torch.autograd.grad(loss.sum(), delta)
            with torch.no_grad():
                if norm == "linf":
                    delta = delta + step_size * grad.sign()
                else:
                    delta = delta + step_size * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                delta = project(xa, delta)
        with torch.no_grad():
            loss, wrong = loss_of(xa + delta, ya)
            take = wrong | (loss > best_loss[active])
            best[active[take]], best_loss[active[take]] = (xa + delta)[take], loss[take]
            fooled[active[wrong]] = True
    return best.detach()
