"""On-disk cache for expensive steps, keyed by function, arguments, data and scpaper's source."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from scpaper.book import runtime

F = TypeVar("F", bound=Callable[..., Any])
_SOURCE_DIGEST: str | None = None
_LEDGER = {"loaded": 0, "loaded_seconds": 0.0, "computed": 0}  # this process's cached calls (see ledger())
_WRITTEN: set[Path] = set()  # entries this process stored: reading one back is not a load from an earlier run


def source_digest() -> str:
    """sha256 over every .py file of the scpaper package (any edit invalidates the cache)."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        h = hashlib.sha256()
        package = Path(__file__).resolve().parents[1]
        for path in sorted(package.rglob("*.py")):
            h.update(str(path.relative_to(package)).encode())
            h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def refreshing() -> bool:
    """True when $SCPAPER_REFRESH asks every cached step to be recomputed."""
    return os.environ.get("SCPAPER_REFRESH", "") not in ("", "0")


def _feed(h: "hashlib._Hash", obj: Any) -> None:
    """Hash obj canonically: tensors and arrays by content, containers recursively."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"ndarray{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(obj, dict):
        h.update(b"dict")
        for key in sorted(obj, key=repr):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(type(obj).__name__.encode() + str(len(obj)).encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, runtime.Preset):
        _feed(h, obj.as_dict())
    elif obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.device, torch.dtype, Path)):
        h.update(f"{type(obj).__name__}:{obj!r}".encode())
    else:
        raise TypeError(f"cannot build a cache key from an argument of type {type(obj).__name__}")


def key_of(fn: Callable[..., Any], args: tuple, kwargs: dict, data: tuple[str, ...]) -> str:
    """Return the cache key of fn(*args, **kwargs) reading the named data files."""
    from scpaper.data import expected_sha256

    h = hashlib.sha256()
    h.update(f"{fn.__module__}.{fn.__qualname__}".encode())
    _feed(h, list(args))
    _feed(h, kwargs)
    _feed(h, [expected_sha256(name) for name in data])
    h.update(source_digest().encode())
    return h.hexdigest()[:32]


def _pid_alive(pid: int) -> bool:
    """True when a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(folder: Path) -> None:
    """Delete temp files left by writers that died mid-write."""
    for tmp in folder.glob(".tmp-*"):
        try:
            pid = int(tmp.name.split("-")[1])
        except (IndexError, ValueError):
            pid = -1
        if pid != os.getpid() and not _pid_alive(pid):
            tmp.unlink(missing_ok=True)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save obj to path through a temp file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ledger() -> dict[str, float]:
    """This process's cached calls so far: how many were loaded from entries an earlier process stored (and the
    seconds their computation took then) and how many were computed; a run's provenance records it, so a page
    says when its numbers came partly from an earlier run of the same code."""
    return dict(_LEDGER)


def cached(data: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorate an expensive function so its result is stored on disk under a content key.

    data names the data files (keys of scpaper.data.REGISTRY) the function reads, so that their
    sha256 enters the key. Set $SCPAPER_REFRESH=1 to recompute and overwrite every entry.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = runtime.paths().cache / f"{fn.__module__}.{fn.__qualname__}"
            path = folder / f"{key_of(fn, args, kwargs, data)}.pt"
            if folder.is_dir():
                _sweep(folder)
            if path.is_file() and not refreshing():
                try:
                    entry = torch.load(path, weights_only=False)
                    value, seconds = entry["value"], float(json.loads(entry["meta"])["seconds"])
                except Exception:  # an unreadable entry is recomputed, never trusted
                    path.unlink(missing_ok=True)
                else:
                    if path not in _WRITTEN:
                        _LEDGER["loaded"] += 1
                        _LEDGER["loaded_seconds"] += seconds
                    return value
            start = time.perf_counter()
            value = fn(*args, **kwargs)
            meta = {"function": f"{fn.__module__}.{fn.__qualname__}", "seconds": time.perf_counter() - start}
            atomic_save({"meta": json.dumps(meta), "value": value}, path)
            _WRITTEN.add(path)
            _LEDGER["computed"] += 1
            return value

        return wrapper  # type: ignore[return-value]

    return decorate
