"""The book's chapters as listed in _toc.yml, and their execution with papermill."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from scpaper.book import runtime


@dataclass(frozen=True)
class Chapter:
    """A chapter: its Jupytext source and the name of its executed notebook."""

    stem: str
    source: Path


class ChapterFailed(RuntimeError):
    """A chapter's cell raised; the message names the chapter and the cell."""


def toc_files(root: Path | None = None) -> list[str]:
    """Every document of _toc.yml (root first), as the paths without suffix that the toc gives."""
    root = root or runtime.ROOT
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = [toc["root"]] if isinstance(toc.get("root"), str) else []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return files


def listed(root: Path | None = None) -> list[Chapter]:
    """Chapters in _toc.yml order: entries under book/executed/ whose source is book/<stem>.md."""
    root = root or runtime.ROOT
    return [Chapter(Path(f).name, root / "book" / f"{Path(f).name}.md")
            for f in toc_files(root) if f.startswith("book/executed/")]


def select(names: list[str], root: Path | None = None) -> list[Chapter]:
    """Chapters matching each name by number ('1' or '01' is 01_*, '3b' is 03b_*) or stem prefix; all when names is empty."""
    chapters = listed(root)
    if not names:
        return chapters
    chosen = []
    for name in names:
        number = re.fullmatch(r"(\d+)([a-z]?)", name)
        prefix = f"{int(number[1]):02d}{number[2]}_" if number else name
        hits = [c for c in chapters if c.stem.startswith(prefix)]
        if len(hits) != 1:
            known = ", ".join(c.stem for c in chapters)
            raise ValueError(f"chapter {name!r} matches {len(hits)} chapters; known: {known}")
        chosen.append(hits[0])
    return chosen


def git_commit(root: Path) -> str:
    """The checked-out commit, with '+dirty' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def device_name(device: str) -> str:
    """A readable name of the device a chapter ran on."""
    import torch

    if runtime.pick_device(device).type == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def execute(chapter: Chapter, scale: str, device: str, seed: int, out_dir: Path) -> dict:
    """Execute one chapter with papermill into out_dir/<stem>.ipynb; return its provenance record."""
    import jupytext
    import papermill
    import torch
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{chapter.stem}.ipynb"
    params = {"scale": scale, "device": device, "seed": seed}
    start = time.perf_counter()
    try:
        papermill.execute_notebook(jupytext.read(chapter.source), str(out), parameters=params, cwd=str(chapter.source.parent),
                                   kernel_name="python3", progress_bar={"desc": chapter.stem, "leave": False}, log_output=False)
    except PapermillExecutionError as err:
        raise ChapterFailed(f"chapter {chapter.stem} failed in cell {err.exec_count}: {err.ename}: {err.evalue}") from None
    record = {"chapter": chapter.stem, "parameters": params, "commit": git_commit(runtime.ROOT), "device": device_name(device),
              "torch": torch.__version__, "python": platform.python_version(), "wall_time_s": round(time.perf_counter() - start, 1),
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _append_provenance_cell(out, record)
    return record


def _append_provenance_cell(path: Path, record: dict) -> None:
    """Add a closing markdown cell that says how, where and when the notebook was executed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    p = record["parameters"]
    dirty = " with uncommitted changes" if record["commit"].endswith("+dirty") else ""
    text = (f"```{{admonition}} Provenance\n:class: note\nExecuted at scale `{p['scale']}` with seed {p['seed']} on "
            f"{record['device']} (torch {record['torch']}, Python {record['python']}), commit `{record['commit'][:12]}`{dirty}, "
            f"finished {record['finished']} after {record['wall_time_s']} s.\n```")
    nb.cells.append(nbformat.v4.new_markdown_cell(text, metadata={"tags": ["provenance"]}))
    nbformat.write(nb, path)


def run(names: list[str], scale: str, device: str = "auto", seed: int = 0, refresh: bool = False) -> list[dict]:
    """Execute chapters at a scale into results/<scale>/, record provenance, and stage them for the book."""
    from tqdm.auto import tqdm

    runtime.check_scale(scale)
    runtime.pick_device(device)
    chapters = select(names)
    p = runtime.paths()
    out_dir = p.results / scale
    if refresh:
        os.environ["SCPAPER_REFRESH"] = "1"
    provenance_path = out_dir / "provenance.json"
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    records = []
    for chapter in tqdm(chapters, desc=f"chapters at scale {scale}", unit="chapter"):
        record = execute(chapter, scale, device, seed, out_dir)
        provenance[chapter.stem] = record
        provenance_path.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        stage(out_dir / f"{chapter.stem}.ipynb")
        records.append(record)
    return records


def stage(notebook: Path) -> None:
    """Copy an executed notebook to book/executed/, where _toc.yml renders it."""
    target = runtime.paths().executed
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, target / notebook.name)


def render(scale: str | None = None) -> None:
    """Stage results/<scale>/ (when given) and build the HTML book with warnings as errors."""
    p = runtime.paths()
    if scale is not None:
        runtime.check_scale(scale)
        found = sorted((p.results / scale).glob("*.ipynb"))
        missing = [c.stem for c in listed() if not (p.results / scale / f"{c.stem}.ipynb").is_file()]
        if missing:
            raise ValueError(f"results/{scale}/ lacks executed notebooks for {', '.join(missing)}: "
                             f"run `python -m scpaper run --scale {scale}` first")
        for nb in found:
            stage(nb)
    cmd = ["jupyter-book", "build", str(p.root), "-W", "-n", "--keep-going"]
    subprocess.run(cmd, cwd=p.root, check=True)
