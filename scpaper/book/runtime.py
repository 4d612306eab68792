"""Scales, presets, device choice, seeding and paths: the one place chapters read them from."""

from __future__ import annotations

import json
import os
import platform
import random
import sys
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
OVERRIDES_ENV = "SCPAPER_OVERRIDES"  # set by the runner: JSON {"scale": …, "presets": {preset: {key: value}}}
DRY_RUN_ENV = "SCPAPER_DRY_RUN"      # set by the runner: "1" applies each preset's [dry_run] table at scale full
DRY_RUN_DATA_FLAG = "full_data_flag"  # a [dry_run] entry naming the preset key that asks for full CIFAR-10
VERSIONED = ("numpy", "scipy", "torch", "sklearn", "pandas", "matplotlib")  # imported and reported by environment()
DISTRIBUTIONS = ("jupyter-book", "myst-nb", "papermill", "jupytext", "nbformat")  # reported by their installed version


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


def _table(chapter: str) -> tuple[Path, dict[str, Any]]:
    """The parsed preset file of a chapter, or a one-line error naming the known ones."""
    path = PRESET_DIR / f"{chapter}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.toml")))
        raise ValueError(f"no presets for chapter {chapter!r} (known: {known})")
    return path, tomllib.loads(path.read_text())


def dry_run() -> bool:
    """True when the runner asked for a dry run of the full scale ($SCPAPER_DRY_RUN)."""
    return os.environ.get(DRY_RUN_ENV, "") not in ("", "0")


def full_cifar10_available() -> bool:
    """True when every file of full CIFAR-10 is present under $SCPAPER_DATA (not checked by sha256 here)."""
    from scpaper.data import REGISTRY, full_data_dir

    folder = full_data_dir()
    return folder is not None and all((folder / n).is_file() for n in REGISTRY if n.startswith("cifar10/"))


def dry_run_settings(chapter: str) -> tuple[dict[str, Any], str]:
    """The [dry_run] entries of a chapter's preset and a note saying what stands in for missing full-size data."""
    path, table = _table(chapter)
    values = dict(table.get("dry_run", {}))
    flag = values.pop(DRY_RUN_DATA_FLAG, None)
    full = {**table.get("common", {}), **table.get("full", {})}
    values = check_overrides(chapter, "full", values, full)  # a typo or a wrong type in [dry_run] is an error
    full.update(values)
    note = ""
    if flag is not None:
        if flag not in full:
            raise ValueError(f"{path.name}: [dry_run] {DRY_RUN_DATA_FLAG} names {flag!r}, which the full preset lacks")
        if full[flag] and not full_cifar10_available():
            values[flag] = False
            note = ("full CIFAR-10 is not under $SCPAPER_DATA: the committed subset stands in, "
                    "with the same 32×32 images but fewer of them")
    return values, note


def preset(chapter: str, scale: str) -> Preset:
    """Load the sizes for chapter at scale from scpaper/book/presets/<chapter>.toml.

    At scale full during a dry run ($SCPAPER_DRY_RUN) the preset's [dry_run] table is applied on top; the
    runner's overrides ($SCPAPER_OVERRIDES, from `--set key=value`) are applied last, at the run's scale only.
    """
    check_scale(scale)
    path, table = _table(chapter)
    if scale not in table:
        raise ValueError(f"{path.name} has no [{scale}] table")
    values = {**table.get("common", {}), **table[scale]}
    if scale == "full" and dry_run():
        values.update(dry_run_settings(chapter)[0])
    run = json.loads(os.environ.get(OVERRIDES_ENV) or "{}")
    if run.get("scale") == scale and run.get("presets", {}).get(chapter):
        values.update(check_overrides(chapter, scale, run["presets"][chapter], values))
    return Preset(chapter, scale, values)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split 'key=value' (value in TOML syntax, e.g. lams=[0.1,0.3]; a bare word is a string) into (key, value)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ValueError(f"--set takes key=value (e.g. lams=[0.1,0.3]), got {text!r}")
    try:
        return key, tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return key, raw.strip()


def _type_name(value: Any) -> str:
    """'int', 'float', 'bool', 'str' or 'list of float' for an error message."""
    if isinstance(value, list):
        return f"list of {_type_name(value[0])}" if value else "list"
    return type(value).__name__


def _article(name: str) -> str:
    """'an int', 'a float'."""
    return ("an " if name[0] in "aeiou" else "a ") + name


def _coerce(key: str, old: Any, new: Any, where: str) -> Any:
    """new converted to old's type (an int where a float is expected is fine), or a one-line ValueError."""
    if isinstance(old, list):
        if not isinstance(new, list):
            raise ValueError(f"{where}: {key} must be {_article(_type_name(old))} like {old!r}, got {new!r}")
        return [_coerce(key, old[0], item, where) for item in new] if old else new
    if isinstance(old, float) and not isinstance(new, bool) and isinstance(new, (int, float)):
        return float(new)
    if type(new) is not type(old):
        raise ValueError(f"{where}: {key} must be {_article(_type_name(old))} like {old!r}, got {new!r}")
    return new


def check_overrides(chapter: str, scale: str, overrides: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """Overrides type-checked against chapter's preset at scale: an unknown key or a wrong type is a one-line error."""
    if values is None:
        path, table = _table(chapter)
        values = {**table.get("common", {}), **table.get(check_scale(scale), {})}
    where = f"preset {chapter}/{scale}"
    checked = {}
    for key, new in overrides.items():
        if key not in values:
            raise ValueError(f"{where} has no key {key!r}; valid keys: {', '.join(sorted(values))}")
        checked[key] = _coerce(key, values[key], new, where)
        _check_size(chapter, scale, key, checked[key])
    return checked


def pick_device(name: str = "auto") -> torch.device:
    """Return the torch device for 'auto', 'cpu' or 'cuda' ('auto' takes cuda when present).

    On cuda it also turns off TF32 in cuDNN's fp32 convolutions (on by default), which keep only 10 mantissa
    bits: what runs in fp32 outside bf16 autocast (the sparse-coding layers) is then fp32.
    """
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}: choose auto, cpu or cuda")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for, but torch sees no GPU on this machine")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    torch.backends.cudnn.allow_tf32 = False
    return torch.device("cuda")


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
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads())
    threadpool_limits(threads())  # numpy's and scipy's BLAS and OpenMP pools: the same count as torch's
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def environment() -> dict[str, Any]:
    """What the numbers of a run depend on besides code and data: threads, BLAS libraries, library versions, and
    how many cached steps were loaded rather than computed."""
    from importlib import import_module
    from importlib.metadata import PackageNotFoundError, version

    from threadpoolctl import threadpool_info

    versions = {name: getattr(import_module(name), "__version__", "?") for name in VERSIONED}
    for dist in DISTRIBUTIONS:
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    pools = [{"api": p["internal_api"], "version": p.get("version"), "threads": p["num_threads"],
              "library": Path(p["filepath"]).name} for p in threadpool_info()]
    from scpaper.book import cache

    return {"python": platform.python_version(), "executable": sys.executable, "torch_threads": torch.get_num_threads(),
            "threads_asked": threads(), "blas": pools, "versions": versions, "cache": cache.ledger()}


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
