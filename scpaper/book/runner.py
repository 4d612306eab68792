"""The book's chapters as listed in _toc.yml, and their execution with papermill."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

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


COMMIT_ENV = "SCPAPER_COMMIT"  # the commit of a copied tree that has no git history (e.g. on a lent GPU machine)


def git_commit(root: Path) -> str:
    """The checked-out commit, with '+dirty' when tracked files other than results/ (the runs' own outputs, which a
    full run rewrites) differ from it; $SCPAPER_COMMIT (else 'unknown') where root is not a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get(COMMIT_ENV, "unknown")
    return head + ("+dirty" if dirty else "")


def device_name(device: str) -> str:
    """A readable name of the device a chapter ran on."""
    import torch

    if runtime.pick_device(device).type == "cuda":
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _named_in_source(chapter: Chapter, pattern: str) -> str | None:
    """The first name a chapter's source passes to the call matched by pattern (e.g. its preset or claims name)."""
    found = re.search(pattern, chapter.source.read_text())
    return found[1] if found else None


def preset_name(chapter: Chapter) -> str | None:
    """The preset file a chapter reads (`runtime.preset("<name>", scale)` in its source), or None."""
    return _named_in_source(chapter, r"""runtime\.preset\(\s*["'](\w+)["']\s*,\s*scale\s*\)""")


def claims_name(chapter: Chapter) -> str | None:
    """The name a chapter reports its claims under (`claims.report("<name>", …)`), or None."""
    return _named_in_source(chapter, r"""claims\.report\(\s*["'](\w+)["']""")


def run_name(scale: str, tag: str | None = None, dry_run: bool = False) -> str:
    """The results folder of a run: the tag, else '<scale>-dry-run' for a dry run, else the scale."""
    runtime.check_scale(scale)
    if tag is not None:
        reserved = set(runtime.SCALES) | {f"{s}-dry-run" for s in runtime.SCALES}
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tag) or tag in reserved:
            raise ValueError(f"tag {tag!r} must be letters, digits, '.', '_' or '-' and not one of {', '.join(sorted(reserved))}")
        return tag
    if dry_run and scale != "full":
        raise ValueError(f"--dry-run is a dry run of the full scale; got --scale {scale}")
    return f"{scale}-dry-run" if dry_run else scale


def run_overrides(chapter: Chapter, scale: str, overrides: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
    """Overrides type-checked against the preset the chapter reads at scale (one-line error for unknown keys or types)."""
    if not overrides:
        return {}
    name = preset_name(chapter)
    if name is None:
        raise ValueError(f"chapter {chapter.stem} reads no preset, so --set has nothing to override")
    values = runtime.preset(name, scale).as_dict()
    if dry_run:
        values.update(runtime.dry_run_settings(name)[0])
    return runtime.check_overrides(name, scale, overrides, values)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the chapter's kernel) for the duration of a block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


ENVIRONMENT_CELL = "import json\nfrom scpaper.book import runtime\nprint(json.dumps(runtime.environment()))"


def execute(chapter: Chapter, scale: str, device: str, seed: int, out_dir: Path, overrides: dict[str, Any] | None = None,
            dry_run: bool = False, tag: str | None = None) -> dict:
    """Execute one chapter with papermill into out_dir/<stem>.ipynb; return its provenance record.

    The kernel writes its claims to out_dir ($SCPAPER_RESULTS), reads overrides of its preset from
    $SCPAPER_OVERRIDES and the [dry_run] table when dry_run; a last cell, removed afterwards, reports
    the threads, BLAS and library versions the kernel actually used.
    """
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    overrides = run_overrides(chapter, scale, overrides or {}, dry_run)
    name = preset_name(chapter)
    data_note = runtime.dry_run_settings(name)[1] if dry_run and name else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{chapter.stem}.ipynb"
    params = {"scale": scale, "device": device, "seed": seed}
    nb = jupytext.read(chapter.source)
    nb.cells.append(nbformat.v4.new_code_cell(ENVIRONMENT_CELL, metadata={"tags": ["remove-cell", "scpaper-environment"]}))
    env = {"SCPAPER_RESULTS": str(out_dir), runtime.DRY_RUN_ENV: "1" if dry_run else "",
           runtime.OVERRIDES_ENV: json.dumps({"scale": scale, "presets": {name: overrides}} if overrides else {})}
    partial, failed = out_dir / f".{chapter.stem}.partial.ipynb", out_dir / f"{chapter.stem}.failed.ipynb"
    failed.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        with _environment(env):
            # The kernel is stopped at once after the last cell: every output has arrived by then and a chapter
            # writes its files inside cells, while a graceful exit spends ~3 s tearing down torch.
            papermill.execute_notebook(nb, str(partial), parameters=params, cwd=str(chapter.source.parent), kernel_name="python3",
                                       progress_bar={"desc": chapter.stem, "leave": False}, log_output=False,
                                       shutdown_kernel="immediate")
    except PapermillExecutionError as err:
        partial.replace(failed)  # kept for debugging under a name no render or nbval run picks up
        raise ChapterFailed(f"chapter {chapter.stem} failed in cell {err.exec_count}: {err.ename}: {err.evalue} "
                            f"(executed cells: {failed})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(out)  # only a notebook that ran to the end takes the chapter's name
    wall = round(time.perf_counter() - start, 1)
    executed = nbformat.read(out, as_version=4)
    environment = json.loads(executed.cells.pop()["outputs"][0]["text"])
    record = {"chapter": chapter.stem, "parameters": params, "commit": git_commit(runtime.ROOT), "device": device_name(device),
              "torch": environment["versions"]["torch"], "python": environment["python"], "wall_time_s": wall,
              "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run": out_dir.name,
              "tag": tag, "overrides": overrides, "dry_run": dry_run, "data_note": data_note,
              "threads": environment["torch_threads"], "blas": environment["blas"], "versions": environment["versions"],
              "cache": environment["cache"]}
    claims_file = out_dir / f"{claims_name(chapter)}_claims.json"
    if claims_file.is_file() and claims_file.stat().st_mtime >= time.time() - wall - 1:
        written = json.loads(claims_file.read_text())
        record["claims"] = {"file": claims_file.name, "summary": written["summary"], "counts": written["counts"]}
    _annotate(executed, record)
    nbformat.write(executed, out)
    return record


def _overrides_text(overrides: dict[str, Any]) -> str:
    """`key=value` pairs of a run's overrides, comma-separated."""
    return ", ".join(f"`{k}={json.dumps(v)}`" for k, v in overrides.items())


def banner_text(record: dict) -> str:
    """The line that opens a page: the scale, seed, commit, device, wall time and overrides of its numbers, the cached
    steps it loaded from an earlier run, and the record's `note` (a sentence added by hand, e.g. how a run was split
    across calls)."""
    p = record["parameters"]
    dirty = " (with uncommitted changes)" if record["commit"].endswith("+dirty") else ""
    text = (f"Scale `{p['scale']}`, seed {p['seed']}, commit `{record['commit'][:12]}`{dirty}, "
            f"on {record['device']}, {record['wall_time_s']} s (finished {record['finished']}).")
    if record.get("overrides"):
        text += f" Preset overrides: {_overrides_text(record['overrides'])}."
    if record.get("tag"):
        text += f" Variant run `{record['tag']}`."
    if record.get("dry_run"):
        text += " **Dry run** of the full scale's shapes with iteration counts cut to one or two: the numbers mean nothing."
    if record.get("data_note"):
        text += f" {record['data_note'][0].upper()}{record['data_note'][1:]}."
    text += cache_text(record)
    if record.get("note"):
        text += f" {record['note']}"
    return text


def cache_text(record: dict) -> str:
    """A sentence when some of a run's cached steps were loaded from an earlier run of the same code, else ''."""
    ledger = record.get("cache") or {}
    loaded, computed = ledger.get("loaded", 0), ledger.get("computed", 0)
    if not loaded:
        return ""
    return (f" Cached steps loaded from an earlier run of the same code: {loaded} of {loaded + computed}; the wall time "
            f"leaves out the {ledger.get('loaded_seconds', 0.0):.0f} s they took to compute.")


def banner_cell(record: dict) -> str:
    """The Markdown of a page's banner: banner_text in a note admonition."""
    return f"```{{admonition}} The numbers on this page\n:class: note\n{banner_text(record)}\n```"


def write_provenance(path: Path, provenance: dict) -> None:
    """Write provenance.json: records by chapter, keys sorted, characters as they are."""
    path.write_text(json.dumps(provenance, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def provenance_text(record: dict) -> str:
    """The closing note of a page: how, where and when it was executed, with threads, BLAS and library versions."""
    p = record["parameters"]
    dirty = " with uncommitted changes" if record["commit"].endswith("+dirty") else ""
    blas = "; ".join(" ".join(str(x) for x in (b["api"], b["version"], b["library"]) if x) + f" ({b['threads']} threads)"
                     for b in record.get("blas", []))
    versions = ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items())
    text = (f"Executed at scale `{p['scale']}` with seed {p['seed']} on {record['device']} (torch {record['torch']}, "
            f"Python {record['python']}), commit `{record['commit'][:12]}`{dirty}, finished {record['finished']} "
            f"after {record['wall_time_s']} s. Torch threads: {record.get('threads', '?')} ($SCPAPER_THREADS); "
            f"thread pools: {blas or 'none found'}. Libraries imported: {versions}.")
    if record.get("overrides"):
        text += f" Preset overrides: {_overrides_text(record['overrides'])}."
    return text


def _annotate(nb: Any, record: dict) -> None:
    """Open the notebook with a banner after its title, close it with a provenance note, and keep the record in its metadata."""
    import nbformat

    banner = nbformat.v4.new_markdown_cell(banner_cell(record), metadata={"tags": ["banner"]})
    titled = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), None)
    if titled is None:
        nb.cells.insert(0, banner)
    else:
        title, _, rest = nb.cells[titled].source.lstrip().partition("\n")
        nb.cells[titled].source = title
        extra = [nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else []
        nb.cells[titled + 1:titled + 1] = [banner, *extra]
    note = f"```{{admonition}} Provenance\n:class: note\n{provenance_text(record)}\n```"
    nb.cells.append(nbformat.v4.new_markdown_cell(note, metadata={"tags": ["provenance"]}))
    nb.metadata["scpaper"] = record


def add_note(notebook: Path, note: str) -> dict:
    """Add a sentence to an executed notebook's record, rewrite its banner, and update provenance.json beside it;
    return the record. For what the run itself cannot know, e.g. how it was split across calls."""
    import nbformat

    note = " ".join(note.split())
    if not note:
        raise ValueError("the note is empty")
    nb = nbformat.read(notebook, as_version=4)
    record = nb.metadata.get("scpaper")
    banner = next((c for c in nb.cells if "banner" in c.metadata.get("tags", [])), None)
    if record is None or banner is None:
        raise ValueError(f"{notebook} has no provenance record and banner: not a notebook written by `scpaper run`")
    record["note"] = note
    banner.source = banner_cell(record)
    nbformat.write(nb, notebook)
    provenance_path = notebook.parent / "provenance.json"
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text())
        if record["chapter"] in provenance:
            provenance[record["chapter"]]["note"] = note
            write_provenance(provenance_path, provenance)
    return record


def run(names: list[str], scale: str, device: str = "auto", seed: int = 0, refresh: bool = False,
        overrides: dict[str, Any] | None = None, tag: str | None = None, dry_run: bool = False, stage_book: bool = True) -> list[dict]:
    """Execute chapters into results/<scale>/ (results/<tag>/ for a variant, results/full-dry-run/ for a dry run),
    record provenance, and stage them for the book (never a dry run)."""
    from tqdm.auto import tqdm

    out_dir = runtime.paths().results / run_name(scale, tag, dry_run)
    runtime.pick_device(device)
    chapters = select(names)
    for chapter in chapters:  # every override is checked before anything runs
        run_overrides(chapter, scale, overrides or {}, dry_run)
    if refresh:
        os.environ["SCPAPER_REFRESH"] = "1"
    provenance_path = out_dir / "provenance.json"
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    records = []
    for chapter in tqdm(chapters, desc=f"chapters into results/{out_dir.name}", unit="chapter"):
        record = execute(chapter, scale, device, seed, out_dir, overrides, dry_run, tag)
        provenance[chapter.stem] = record
        out_dir.mkdir(parents=True, exist_ok=True)
        write_provenance(provenance_path, provenance)
        if stage_book and not dry_run:
            stage(out_dir / f"{chapter.stem}.ipynb")
            write_overview()
        records.append(record)
    return records


def stage(notebook: Path, target: Path | None = None) -> None:
    """Copy an executed notebook to book/executed/ (or target), with a fresh mtime so that Sphinx re-reads it."""
    target = target or runtime.paths().executed
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, target / notebook.name)


def write_overview(executed: Path | None = None, root: Path | None = None) -> Path:
    """Write book/executed/overview.md, the intro's table of what each staged page shows: run, banner and claim counts."""
    import nbformat

    executed = executed or runtime.paths().executed
    executed.mkdir(parents=True, exist_ok=True)
    rows = ["| chapter | numbers from | claims |", "| --- | --- | --- |"]
    for chapter in listed(root):
        path = executed / f"{chapter.stem}.ipynb"
        record = nbformat.read(path, as_version=4).metadata.get("scpaper") if path.is_file() else None
        if record is None:
            rows.append(f"| {chapter.stem} | not run | — |")
            continue
        counts = record.get("claims", {}).get("summary", "no claims recorded")
        where = banner_text(record).replace("|", "\\|")
        run = record.get("run", record["parameters"]["scale"])
        rows.append(f"| {{doc}}`/book/executed/{chapter.stem}` | `results/{run}/`: {where} | {counts} |")
    out = executed / "overview.md"
    out.write_text("\n".join(rows) + "\n")
    return out


def _book_copy(root: Path, into: Path) -> None:
    """Make into/ a book root holding root's configuration and sources (not its executed pages), for a separate build."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copyfile(root / name, into / name)
    book = into / "book"
    if book.exists():
        shutil.rmtree(book)
    shutil.copytree(root / "book", book, ignore=shutil.ignore_patterns("executed"))
    assets = into / "build-assets"
    if (root / "build-assets").is_dir() and not assets.exists():
        assets.symlink_to((root / "build-assets").resolve(), target_is_directory=True)


def render(scale: str | None = None, fallback: str | None = None, into: Path | None = None) -> Path:
    """Stage results/<scale>/ (chapters it lacks from results/<fallback>/) and build the HTML book from scratch.

    scale and fallback name results folders: a scale, a variant's tag or full-dry-run. Without scale the
    staged pages are rebuilt as they are. into builds a separate copy of the book there
    (e.g. CI's smoke book), leaving book/executed/ and _build/html alone. Returns the HTML folder.
    """
    p = runtime.paths()
    book_root = into.resolve() if into else p.root
    if into:
        _book_copy(p.root, book_root)
    executed = book_root / "book" / "executed"
    if scale is not None:
        runs = [scale] + ([fallback] if fallback else [])
        chosen, missing = [], []
        for chapter in listed():
            found = [p.results / r / f"{chapter.stem}.ipynb" for r in runs if (p.results / r / f"{chapter.stem}.ipynb").is_file()]
            if found:
                chosen.append(found[0])
            else:
                missing.append(chapter.stem)
        if missing:
            where = " or ".join(f"results/{r}/" for r in runs)
            raise ValueError(f"{where} lacks executed notebooks for {', '.join(missing)}: "
                             f"run `python -m scpaper run --scale {runs[-1]}` first")
        for nb in chosen:
            stage(nb, executed)
    write_overview(executed)
    jb = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jb) if jb.is_file() else "jupyter-book", "build", str(book_root), "-W", "-n", "--keep-going", "--all"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(cmd, cwd=book_root, env=env)
    if done.returncode:
        raise RuntimeError(f"jupyter-book build of {book_root} failed with exit status {done.returncode} (its output is above)")
    return book_root / "_build" / "html"
