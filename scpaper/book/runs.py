"""A run's claims from the terminal: the claims table of one run, and two runs compared claim by claim."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scpaper.book import claims, runner, runtime


def folder(run: str) -> Path:
    """The results folder of a run named by its scale or tag (results/<run>/) or by a path."""
    for path in (runtime.paths().results / run, Path(run)):
        if path.is_dir():
            return path
    known = sorted(p.name for p in runtime.paths().results.glob("*") if p.is_dir())
    raise ValueError(f"no run {run!r}: neither results/{run}/ nor a folder {run}; runs here: {', '.join(known) or 'none'}")


def load(run: str, chapter: str | None = None) -> dict[str, dict]:
    """The claims records of a run (chapter name → the JSON written by claims.report), one chapter's when given."""
    where = folder(run)
    if chapter is not None:
        (picked,) = runner.select([chapter])
        names = [runner.claims_name(picked)]
        files = [where / f"{n}_claims.json" for n in names if n and (where / f"{n}_claims.json").is_file()]
        if not files:
            raise ValueError(f"{where} holds no claims of chapter {picked.stem}")
    else:
        files = sorted(where.glob("*_claims.json"))
        if not files:
            raise ValueError(f"{where} holds no claims files")
    records = {}
    for path in files:
        record = json.loads(path.read_text())
        records[record["chapter"]] = record
    return records


def _claims(record: dict) -> list[claims.Claim]:
    """The Claim objects of a claims record."""
    return [claims.Claim(**c) for c in record["claims"]]


def show(run: str, chapter: str | None = None) -> str:
    """The claims table of every chapter of a run (or of one), each headed by its counts by kind and verdict."""
    parts = []
    with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", None):
        for name, record in load(run, chapter).items():
            parts.append(f"{name} ({record['scale']}, {folder(run)}): {record['summary']}\n{claims.table(_claims(record)).to_string()}")
    return "\n\n".join(parts)


def _number(c: claims.Claim | None) -> str:
    """A claim's estimate with its interval (or its deviation for an identity), as text."""
    if c is None:
        return "—"
    if c.estimate is None:
        return c.measured
    if c.low is None and c.high is None or c.kind == "identity":
        return f"{c.estimate:.4g}"
    low = "−∞" if c.low is None else f"{c.low:.4g}"
    high = "∞" if c.high is None else f"{c.high:.4g}"
    return f"{c.estimate:.4g} [{low}, {high}]"


def compare_table(a: dict[str, dict], b: dict[str, dict]) -> pd.DataFrame:
    """Claim by claim: both numbers with intervals and both verdicts, and whether the verdict changed."""
    rows = []
    for name in list(a) + [n for n in b if n not in a]:
        left = {c.key: c for c in _claims(a[name])} if name in a else {}
        right = {c.key: c for c in _claims(b[name])} if name in b else {}
        for key in list(left) + [k for k in right if k not in left]:
            ca, cb = left.get(key), right.get(key)
            va, vb = (c.verdict if c else "—" for c in (ca, cb))
            mark = "" if va == vb else "only in A" if cb is None else "only in B" if ca is None else "CHANGED"
            rows.append({"claim": f"{name}/{key}", "kind": (ca or cb).kind, "A (95 % CI)": _number(ca), "A verdict": va,
                         "B (95 % CI)": _number(cb), "B verdict": vb, "verdict": mark})
    return pd.DataFrame(rows).set_index("claim")


def compare(run_a: str, run_b: str, chapter: str | None = None) -> str:
    """Two runs compared claim by claim as text, changed verdicts marked CHANGED, with a count of the changes."""
    table = compare_table(load(run_a, chapter), load(run_b, chapter))
    changed = int((table["verdict"] == "CHANGED").sum())
    with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", None):
        text = table.to_string()
    return f"A = {folder(run_a)}, B = {folder(run_b)}\n{text}\n{changed} of {len(table)} verdicts changed"
