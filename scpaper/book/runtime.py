"""Scales, presets, device choice, seeding and paths: the one place chapters read them from."""

from __future__ import annotations

import os
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

SCALES = ("smoke", "default", "full")
ROOT = Path(__file__).resolve().parents[2]
PRESET_DIR = Path(__file__).resolve().parent / "presets"


def check_scale(scale: str) -> str:
    """Return scale if it is one of SCALES, else raise a one-line ValueError."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: choose one of {', '.join(SCALES)}")
    return scale


class Preset:
    """Read-only sizes of one chapter at one scale, read as attributes (cfg.n_patches)."""

    def __init__(self, chapter: str, scale: str, values: dict[str, Any]) -> None:
        for key, value in values.items():
            _check_size(chapter, scale, key, value)
        object.__setattr__(self, "chapter", chapter)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"preset {self.chapter}/{self.scale} has no entry {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("presets are read-only; edit scpaper/book/presets/<chapter>.toml")

    def as_dict(self) -> dict[str, Any]:
        """Return the preset's entries as a plain dict."""
        return dict(self._values)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Preset({self.chapter}/{self.scale}: {items})"


def _check_size(chapter: str, scale: str, key: str, value: Any) -> None:
    """Reject negative numbers anywhere in a preset entry."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
            raise ValueError(f"preset {chapter}/{scale}: {key} must be non-negative, got {value!r}")


def preset(chapter: str, scale: str) -> Preset:
    """Load the sizes for chapter at scale from scpaper/book/presets/<chapter>.toml."""
    check_scale(scale)
    path = PRESET_DIR / f"{chapter}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml")))
        raise ValueError(f"no presets for chapter {chapter!r} (known: {known})")
    table = tomllib.loads(path.read_text())
    shared = table.get("common", {})
    if scale not in table:
        raise ValueError(f"{path.name} has no [{scale}] table")
    return Preset(chapter, scale, {**shared, **table[scale]})


def pick_device(name: str = "auto") -> torch.device:
    """Return the torch device for 'auto', 'cpu' or 'cuda' ('auto' takes cuda when present)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device='cuda' was asked for, but torch sees no GPU on this machine")
        return torch.device("cuda")
    raise ValueError(f"unknown device {name!r}: choose auto, cpu or cuda")


def threads() -> int:
    """Torch's intra-op thread count for a run: $SCPAPER_THREADS, else 2 (the default scale's machine)."""
    value = os.environ.get("SCPAPER_THREADS", "2")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"SCPAPER_THREADS must be a positive integer, got {value!r}")
    return int(value)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch and fix torch's thread count (so one seed gives the same numbers run after
    run on one machine); return a numpy Generator seeded the same way."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    torch.set_num_threads(threads())
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class Paths:
    """Where the cache, results and executed notebooks live (data: scpaper.data)."""

    root: Path
    cache: Path
    results: Path
    executed: Path


def results_dir(scale: str) -> Path:
    """Where a run writes its notebooks and claims: $SCPAPER_RESULTS when the runner sets it, else results/<scale>/."""
    override = os.environ.get("SCPAPER_RESULTS")
    return Path(override) if override else paths().results / check_scale(scale)


def paths() -> Paths:
    """Return the project's paths; $SCPAPER_CACHE moves the cache."""
    cache = Path(os.environ.get("SCPAPER_CACHE", ROOT / ".cache" / "scpaper")).expanduser()
    return Paths(ROOT, cache, ROOT / "results", ROOT / "book" / "executed")
