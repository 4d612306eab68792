"""Supervised training of a classifier on tensors held in memory, and its accuracy."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

Schedule = Callable[[int, int], float]


def cosine(step: int, total: int) -> float:
    """Cosine decay of the learning-rate factor from 1 to 0 over total steps."""
    return 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))


def constant(step: int, total: int) -> float:
    """A constant learning-rate factor of 1."""
    return 1.0


def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
        momentum: float = 0.9, nesterov: bool = True, weight_decay: float = 5e-4, schedule: Schedule = cosine,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None, prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
        device: torch.device | str = "cpu", seed: int = 0, progress: bool = True, stop_on_nan: bool = False,
        groups: Callable[[str], dict[str, float]] | None = None) -> list[float]:
    """Train model with SGD and cross-entropy; return the mean training loss of each epoch.

    On CUDA, X and y are copied to the GPU once and the forward pass runs under bf16 autocast; each batch
    is passed through prepare (e.g. uint8 → normalised float) and augment (training only), and the learning
    rate follows lr·schedule(step, total) per step. Losses are summed on the device, so a GPU step waits for
    no host read. stop_on_nan=True raises a one-line FloatingPointError naming the first non-finite loss's
    step: at that step on a CPU, at the end of its epoch on a GPU. groups maps a parameter's name to
    overrides {"weight_decay": w, "lr_factor": f} (e.g. no weight decay on thresholds); the default is none.
    """
    if epochs <= 0 or batch_size <= 0 or lr <= 0:
        raise ValueError(f"epochs, batch_size and lr must be positive, got {epochs}, {batch_size}, {lr}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must be non-empty and of equal length, got {len(X)} and {len(y)}")
    device = torch.device(device)
    model.to(device).train()
    on_gpu = device.type == "cuda"
    if on_gpu:
        X, y = X.to(device), y.to(device)
    opt = torch.optim.SGD(_param_groups(model, weight_decay, groups), lr=lr, momentum=momentum,
                          nesterov=nesterov and momentum > 0, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(X) / batch_size)
    total = epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed)
    losses, step = [], 0
    first_bad = torch.full((), -1, dtype=torch.long, device=device)  # step of the first non-finite loss
    bad_value = torch.zeros((), dtype=torch.float64, device=device)
    bar = tqdm(total=total, desc="training", unit="step", disable=not progress, leave=False)
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen).to(X.device)
        running = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb, yb = X[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
            xb = prepare(xb) if prepare else xb
            xb = augment(xb) if augment else xb
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_factor"] * schedule(step, total)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
                loss = nn.functional.cross_entropy(model(xb), yb)
            value = loss.detach().double()
            if stop_on_nan:
                new_bad = (first_bad < 0) & ~torch.isfinite(value)
                first_bad, bad_value = torch.where(new_bad, step, first_bad), torch.where(new_bad, value, bad_value)
                if (not on_gpu or i == steps_per_epoch - 1) and int(first_bad) >= 0:
                    bar.close()
                    at = int(first_bad)
                    raise FloatingPointError(f"training loss is {float(bad_value)} at step {at} of {total} "
                                             f"({type(model).__name__}, lr {lr * schedule(at, total):.3g}): stopped")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += value
            step += 1
            bar.update()
        losses.append(float(running) / steps_per_epoch)
    bar.close()
    model.eval()
    return losses


def _param_groups(model: nn.Module, weight_decay: float,
                  groups: Callable[[str], dict[str, float]] | None) -> list[dict]:
    """SGD parameter groups: one per distinct override of groups(name), each with its lr_factor (default 1)."""
    merged: dict[tuple, dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        extra = dict(groups(name)) if groups else {}
        unknown = set(extra) - {"weight_decay", "lr_factor"}
        if unknown:
            raise ValueError(f"parameter group override for {name!r} has unknown keys {sorted(unknown)}")
        options = {"weight_decay": extra.get("weight_decay", weight_decay), "lr_factor": extra.get("lr_factor", 1.0)}
        merged.setdefault(tuple(sorted(options.items())), {"params": [], **options})["params"].append(p)
    return list(merged.values())


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 1024, prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Predicted class of every row of X, as an int64 tensor on the CPU."""
    device = torch.device(device)
    model.to(device).eval()
    out = []
    for i in range(0, len(X), batch_size):
        xb = X[i:i + batch_size].to(device)
        xb = prepare(xb) if prepare else xb
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out.append(model(xb).argmax(1).cpu())
    return torch.cat(out)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, **kwargs) -> float:
    """Share of rows of X whose predicted class equals y (keyword arguments go to predict)."""
    return float((predict(model, X, **kwargs) == y.cpu()).float().mean())


def crop_flip(x: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """Random crop after zero padding by pad pixels, and random horizontal flip, per image, on x's device."""
    if x.dim() != 4:
        raise ValueError(f"crop_flip expects a batch (B, C, H, W), got shape {tuple(x.shape)}")
    b, _, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).expand(b, h, w)
    cols = torch.arange(w, device=x.device).view(1, 1, w).expand(b, h, w)
    flip = torch.rand(b, 1, 1, device=x.device) < 0.5
    cols = torch.where(flip, w - 1 - cols, cols) + dx
    index = (rows * padded.shape[-1] + cols).view(b, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, index).view_as(x)


def validation_indices(n: int, n_val: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows validation_split keeps for training and the n_val it holds out, of n rows."""
    if not 0 < n_val < n:
        raise ValueError(f"n_val must lie in (0, {n}), got {n_val}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_val:], order[:n_val]


def validation_split(X: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Hold out n_val random rows of (X, y) for validation; return X_train, y_train, X_val, y_val."""
    if len(X) != len(y):
        raise ValueError(f"X and y must match in length, got {len(X)} and {len(y)}")
    rest, val = validation_indices(len(X), n_val, seed)
    return X[rest], y[rest], X[val], y[val]
