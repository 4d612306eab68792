"""Few-label evaluation of a representation: 1-nearest-neighbour (Euclidean, cosine) and logistic
regression with weight decay chosen on a validation split (Luther & Seung §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm


def nearest_neighbour(F_train: torch.Tensor, y_train: torch.Tensor, F_test: torch.Tensor, metric: str = "euclidean",
                      batch: int = 2048) -> torch.Tensor:
    """Label of the nearest training row for each test row ('euclidean' or 'cosine' distance)."""
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    if metric == "cosine":
        F_train = torch.nn.functional.normalize(F_train, dim=1)
        F_test = torch.nn.functional.normalize(F_test, dim=1)
    nearest = [torch.cdist(fb, F_train).argmin(1) for fb in F_test.split(batch)]
    return y_train[torch.cat(nearest)]


def logistic(F: torch.Tensor, y: torch.Tensor, weight_decay: float, classes: int = 10,
             max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression minimising mean cross-entropy + (weight_decay/2)‖W‖² (bias free) by L-BFGS.

    The same objective as sklearn's LogisticRegression(C = 1/(weight_decay · N)); runs on F's device.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    W = torch.zeros(F.shape[1], classes, dtype=F.dtype, device=F.device, requires_grad=True)
    b = torch.zeros(classes, dtype=F.dtype, device=F.device, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-7, tolerance_change=1e-10)

    def closure() -> torch.Tensor:
        """Loss and gradients at the current weights."""
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(F @ W + b, y) + 0.5 * weight_decay * W.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return W.detach(), b.detach()


def few_labels(y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Indices of k random rows of each class of y (the same for every representation at a given seed)."""
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    picks = []
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        if len(rows) < k:
            raise ValueError(f"class {c} has {len(rows)} rows, fewer than k={k}")
        picks.append(rng.choice(rows, size=k, replace=False))
    return torch.from_numpy(np.concatenate(picks))


def evaluate(pool: torch.Tensor, y_pool: torch.Tensor, val: torch.Tensor, y_val: torch.Tensor, test: torch.Tensor,
             y_test: torch.Tensor, ks: tuple[int, ...], seeds: int, weight_decays: tuple[float, ...],
             device: torch.device | str = "cpu") -> pd.DataFrame:
    """Test accuracy of 1-NN (Euclidean, cosine) and logistic regression with k labels per class, per seed.

    Features are divided by their mean row norm on the pool (no effect on nearest neighbours; puts every
    representation on one scale for the weight-decay grid); the weight decay is the one with the best
    accuracy on the validation rows. Returns rows (k, seed, classifier, accuracy, weight_decay, correct), where
    correct is the per-test-image 0/1 correctness (a uint8 array), for paired comparisons on the same images.
    """
    device = torch.device(device)
    scale = pool.float().norm(dim=1).mean().clamp_min(1e-12)
    pool, val, test = (t.float().to(device) / scale.to(device) for t in (pool, val, test))
    y_pool, y_val, y_test = (t.to(device) for t in (y_pool, y_val, y_test))
    rows = []
    for k in tqdm(ks, desc="labels per class", leave=False):
        for seed in range(seeds):
            pick = few_labels(y_pool.cpu(), k, seed).to(device)
            F, y = pool[pick], y_pool[pick]
            for metric in ("euclidean", "cosine"):
                rows.append((k, seed, f"1-NN {metric}", nearest_neighbour(F, y, test, metric) == y_test, np.nan))
            best = max(((logistic(F, y, wd), wd) for wd in weight_decays),
                       key=lambda m: ((val @ m[0][0] + m[0][1]).argmax(1) == y_val).double().mean().item())
            (W, b), wd = best
            rows.append((k, seed, "logistic", (test @ W + b).argmax(1) == y_test, wd))
    return pd.DataFrame([(k, s, c, ok.double().mean().item(), wd, ok.cpu().numpy().astype(np.uint8))
                         for k, s, c, ok, wd in rows],
                        columns=["k", "seed", "classifier", "accuracy", "weight_decay", "correct"])


def paired_correct(results: pd.DataFrame, a: str, b: str, classifier: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image 0/1 correctness of representations a and b with one classifier and k labels per class on the same
    test images: two aligned (draws of labels, test images) arrays, for intervals.paired_over_seeds."""
    rows = results[(results.classifier == classifier) & (results.k == k)]
    pick = {name: rows[rows.representation == name].sort_values("seed") for name in (a, b)}
    for name, r in pick.items():
        if r.empty:
            raise ValueError(f"no results for representation {name!r} with {classifier!r} at k={k}")
    if list(pick[a].seed) != list(pick[b].seed):
        raise ValueError(f"{a!r} and {b!r} were not evaluated on the same draws of labels")
    return tuple(np.stack(list(pick[name].correct)).astype(np.float64) for name in (a, b))


def mean_accuracy(results: pd.DataFrame) -> pd.DataFrame:
    """Accuracy averaged over seeds: one column per representation, rows (classifier, k)."""
    return results.pivot_table(index=["classifier", "k"], columns="representation", values="accuracy", aggfunc="mean")
