"""Fetch the canonical data files over the network and check their sha256 (for machines with internet)."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from scpaper.data import CIFAR10_TARBALL, CIFAR10_TARBALL_MD5, REGISTRY, DataError, sha256_of

GROUPS = ("mnist", "natural_images", "cifar10")


def fetch(url: str, dest: Path, sha256: str | None = None, md5: str | None = None) -> Path:
    """Download url to dest through a temp file, check its digest, then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".tmp-download-", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        tmp.write(block)
                        bar.update(len(block))
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    got = sha256_of(Path(tmp.name)) if sha256 else hashlib.md5(Path(tmp.name).read_bytes()).hexdigest()
    want = sha256 or md5
    if want and got != want:
        Path(tmp.name).unlink()
        kind = "sha256" if sha256 else "md5"
        raise DataError(f"download of {url} has {kind} {got}, expected {want}; nothing was written to {dest}")
    Path(tmp.name).replace(dest)
    return dest


def cifar10_arrays(tarball: Path) -> dict[str, np.ndarray]:
    """Read CIFAR-10's python batches and return the arrays in this project's layout (sorted by label, then file name)."""
    batches: dict[str, list[dict]] = {"train": [], "test": []}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            split = "train" if name.startswith("data_batch_") else "test" if name == "test_batch" else None
            if split:
                batches[split].append(pickle.load(io.BytesIO(tar.extractfile(member).read()), encoding="bytes"))
    arrays = {}
    for split, parts in batches.items():
        data = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        labels = np.concatenate([np.asarray(p[b"labels"], dtype=np.uint8) for p in parts])
        names = [n for p in parts for n in p[b"filenames"]]
        order = sorted(range(len(labels)), key=lambda i: (labels[i], names[i]))
        arrays[f"{split}_images"] = np.ascontiguousarray(data[order])
        arrays[f"{split}_labels"] = labels[order]
    return arrays


def _write_cifar10(dest: Path) -> None:
    """Fetch CIFAR-10's tarball, convert it to the registered .npy shards and check each shard's sha256."""
    tarball = fetch(CIFAR10_TARBALL.url, dest / "cifar10" / "cifar-10-python.tar.gz", md5=CIFAR10_TARBALL_MD5)
    arrays = cifar10_arrays(tarball)
    files = {f"cifar10/train_images_{i:02d}.npy": arrays["train_images"][10000 * i: 10000 * (i + 1)] for i in range(5)}
    files.update({f"cifar10/{k}.npy": arrays[k] for k in ("train_labels", "test_images", "test_labels")})
    for name, array in files.items():
        path = dest / name
        np.save(path, array)
        if sha256_of(path) != REGISTRY[name].sha256:
            path.unlink()
            raise DataError(f"{name} made from the tarball does not have the registered sha256 {REGISTRY[name].sha256}")
    tarball.unlink()


def download(dest: Path, groups: tuple[str, ...] = GROUPS, base_url: str | None = None) -> list[Path]:
    """Fetch the registered files of the given groups into dest; base_url replaces the canonical hosts (mirrors, tests)."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown data group(s) {', '.join(sorted(unknown))}: choose from {', '.join(GROUPS)}")
    written = []
    for name, entry in REGISTRY.items():
        group = name.split("/")[0]
        if group not in groups or not entry.url.startswith("http"):
            continue
        if group == "cifar10" and base_url is None:
            continue
        path = dest / name
        if path.is_file() and sha256_of(path) == entry.sha256:
            continue
        url = f"{base_url.rstrip('/')}/{name}" if base_url else entry.url
        written.append(fetch(url, path, sha256=entry.sha256))
    if "cifar10" in groups and base_url is None and not all((dest / n).is_file() for n in REGISTRY if n.startswith("cifar10/")):
        _write_cifar10(dest)
    return written
