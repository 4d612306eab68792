"""Pack the full-size data sets into chunks small enough to travel to a GPU machine, and join them there.

    python scripts/stage_full_data.py [--dest .stage] [--chunk-mb N]   # pack into .stage/a, .stage/b, …
    python scripts/stage_full_data.py --join DIR                       # on the GPU machine, after copying every chunk into DIR

Packing reads full CIFAR-10 from $SCPAPER_DATA (each file checked against its registered sha256; MNIST is
committed in data/ and travels with the tree), compresses each file with xz (a byte-delta filter of
distance 3, the RGB stride, before LZMA2: the 184.4 MB of CIFAR-10 become 119.3 MB) and fills chunks in a
fixed order; a compressed file that does not fit the rest of a chunk is split into parts named
`<file>.xz.part-K-of-N`. The default chunk size is the largest that, with the repository's tracked files,
fits the 64 MiB a device call carries (at most 60 MB). Joining concatenates the parts, decompresses each
file, checks its sha256 against the registry and removes the parts and the compressed copy; a file is
renamed into place only once it is whole and checked.
"""

from __future__ import annotations

import argparse
import lzma
import os
import re
import shutil
import string
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from scpaper.data import REGISTRY, DataError, locate, sha256_of

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("cifar10/",)           # what full scale reads beyond the committed data sets
CARRY_LIMIT = 64 * 2**20         # bytes a device call carries: tracked files plus carried folders
MAX_CHUNK = 60_000_000           # issue 16: chunks of at most 60 MB
MARGIN = 2 * 2**20               # room for untracked files that travel too
XZ_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": 3},  # uint8 RGB, channels last: predict a byte from the same colour
              {"id": lzma.FILTER_LZMA2, "preset": 6, "lc": 4, "lp": 0, "pb": 0}]  # of the pixel before
PART = re.compile(r"^(?P<name>.+)\.part-(?P<k>\d+)-of-(?P<n>\d+)$")


def tracked_bytes(root: Path = ROOT) -> int:
    """Bytes of the files git tracks in root (what every device call carries besides the chunk)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.split(b"\0")
    return sum((root / n.decode()).stat().st_size for n in names if n and (root / n.decode()).is_file())


def default_chunk_bytes(root: Path = ROOT) -> int:
    """The largest chunk that travels beside the tracked files, capped at 60 MB."""
    room = CARRY_LIMIT - tracked_bytes(root) - MARGIN
    if room < 1_000_000:
        raise ValueError(f"the tracked files leave {room} bytes of the 64 MiB a device call carries: no room for data")
    return min(MAX_CHUNK, room)


def pieces(files: dict[str, Path], chunk: int) -> list[list[tuple[str, Path, int, int]]]:
    """Fill chunks of at most chunk bytes with (name, source, offset, length) pieces, splitting files at chunk boundaries."""
    chunks: list[list[tuple[str, Path, int, int]]] = [[]]
    room = chunk
    for name, path in files.items():
        size, offset = path.stat().st_size, 0
        while True:
            if room == 0 and offset < size:
                chunks.append([])
                room = chunk
            length = min(room, size - offset)
            chunks[-1].append((name, path, offset, length))
            offset += length
            room -= length
            if offset >= size:
                break
    return chunks


def compress(source: Path, target: Path) -> Path:
    """Write source xz-compressed (XZ_FILTERS) to target, through a temporary name; return target."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as src, lzma.open(partial, "wb", format=lzma.FORMAT_XZ, filters=XZ_FILTERS) as out:
        shutil.copyfileobj(src, out, 1 << 22)
    return partial.replace(target)


def pack(dest: Path, chunk: int) -> list[Path]:
    """Write the full data sets, compressed, into dest/a, dest/b, … (each at most chunk bytes); return the chunk folders."""
    sources = {name: locate(name) for name in REGISTRY if name.startswith(GROUPS)}
    if dest.exists():
        shutil.rmtree(dest)
    work = dest / ".xz"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # lzma releases the GIL
        jobs = {name: pool.submit(compress, path, work / f"{name}.xz") for name, path in sources.items()}
        files = {f"{name}.xz": job.result() for name, job in tqdm(jobs.items(), desc="xz", unit="file")}
    layout = pieces(files, chunk)
    if len(layout) > len(string.ascii_lowercase):
        raise ValueError(f"{len(layout)} chunks of {chunk} bytes: more than a, b, …, z; pass a larger --chunk-mb")
    counts: dict[str, int] = {}
    for part in layout:
        for name, *_ in part:
            counts[name] = counts.get(name, 0) + 1
    seen: dict[str, int] = {}
    folders = []
    for letter, part in zip(string.ascii_lowercase, layout):
        folder = dest / letter
        for name, path, offset, length in part:
            seen[name] = seen.get(name, 0) + 1
            target = folder / (name if counts[name] == 1 else f"{name}.part-{seen[name]}-of-{counts[name]}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as src, open(target, "wb") as out:
                src.seek(offset)
                out.write(src.read(length))
        folders.append(folder)
    shutil.rmtree(work)
    return folders


def _concatenate(folder: Path) -> None:
    """Join every `<file>.part-K-of-N` under folder into <file> and remove the parts; missing parts are one line."""
    groups: dict[Path, dict[int, Path]] = {}
    totals: dict[Path, int] = {}
    for path in sorted(folder.rglob("*.part-*")):
        m = PART.match(path.name)
        if m:
            target = path.with_name(m["name"])
            groups.setdefault(target, {})[int(m["k"])] = path
            totals[target] = int(m["n"])
    for target, parts in groups.items():
        missing = sorted(set(range(1, totals[target] + 1)) - set(parts))
        if missing:
            raise DataError(f"{target.name}: parts {missing} of {totals[target]} are missing in {folder}; copy every chunk first")
        partial = target.with_name(target.name + ".partial")
        with open(partial, "wb") as out:
            for k in sorted(parts):
                out.write(parts[k].read_bytes())
        partial.replace(target)
        for part in parts.values():
            part.unlink()


def join(folder: Path) -> list[Path]:
    """Join the parts copied into folder, decompress each `<file>.xz`, check its registered sha256; return the files."""
    _concatenate(folder)
    joined = []
    for packed in sorted(folder.rglob("*.xz")):
        target = packed.with_suffix("")
        name = target.relative_to(folder).as_posix()
        partial = target.with_name(target.name + ".partial")
        try:
            with lzma.open(packed, "rb") as src, open(partial, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 22)
        except lzma.LZMAError as err:
            partial.unlink(missing_ok=True)
            raise DataError(f"{name}.xz cannot be decompressed ({err}): copy its chunks again") from None
        got = sha256_of(partial)
        if name in REGISTRY and got != REGISTRY[name].sha256:
            partial.unlink()
            raise DataError(f"{name} unpacked has sha256 {got}, expected {REGISTRY[name].sha256}: copy its chunks again")
        partial.replace(target)
        packed.unlink()
        joined.append(target)
    return joined


def main(argv: list[str] | None = None) -> int:
    """Pack (default) or join; errors are one line and exit status 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".stage", help="where the chunk folders go (default .stage, git-ignored)")
    parser.add_argument("--chunk-mb", type=float, default=None, help="chunk size in MB (default: what fits a device call, ≤ 60)")
    parser.add_argument("--join", type=Path, default=None, metavar="DIR", help="join the parts copied into DIR instead of packing")
    args = parser.parse_args(argv)
    try:
        if args.join is not None:
            for path in join(args.join):
                print(f"joined {path}")
            print(f"data in {args.join}: set SCPAPER_DATA={args.join}")
            return 0
        chunk = int(args.chunk_mb * 1_000_000) if args.chunk_mb else default_chunk_bytes()
        if not 0 < chunk <= MAX_CHUNK:
            raise ValueError(f"--chunk-mb must be in (0, 60], got {args.chunk_mb}")
        folders = pack(args.dest, chunk)
        sizes = [sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) for folder in folders]
        for folder, size in zip(folders, sizes):
            print(f"{folder}: {size / 1e6:.1f} MB")
        raw = sum(locate(name).stat().st_size for name in REGISTRY if name.startswith(GROUPS))
        print(f"{raw / 1e6:.1f} MB of data packed into {sum(sizes) / 1e6:.1f} MB ({sum(sizes) / raw:.2f}) in {len(folders)} chunks")
    except (ValueError, DataError, OSError) as err:
        print(f"stage_full_data: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
