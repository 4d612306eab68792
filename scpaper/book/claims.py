"""Claims boxes: each claim of a paper beside our number and a verdict computed from it, by kind.

Three kinds, counted apart:

- identity: a derivation or equivalence checked numerically; "verified" when the largest deviation is
  within a stated tolerance, else "violated";
- empirical: the paper's claim tested on data; decided from a 95 % interval and a margin fixed before
  measuring: "reproduced" when the interval lies on the claim's side of the margin, "not reproduced"
  when it lies on the other side, "inconclusive" when it straddles it, and "not testable at this
  scale" (with the reason) when the run cannot decide it;
- control: a sanity check expected by construction; "passed" or "failed".
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass

import pandas as pd

from scpaper.book import runtime
from scpaper.book.glue import glue
from scpaper.book.intervals import Interval

KINDS = ("empirical", "identity", "control")
VERDICTS = {"empirical": ("reproduced", "inconclusive", "not reproduced", "not testable at this scale"),
            "identity": ("verified", "violated"), "control": ("passed", "failed")}
SIDES = ("above", "below", "within")


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper states, what we measured, the rule that decides it, and the verdict."""

    key: str
    kind: str
    statement: str
    paper: str
    measured: str
    verdict: str
    rule: str = ""
    n: int | None = None
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    margin: float | None = None  # an empirical claim's margin and side: decide(estimate, low, high; margin, side) = verdict
    side: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.key!r}: unknown kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.verdict not in VERDICTS[self.kind]:
            raise ValueError(f"claim {self.key!r}: verdict {self.verdict!r} is not one of {VERDICTS[self.kind]}")


def _number(value: float | None) -> float | None:
    """A float for the JSON record: None for a missing or infinite bound."""
    return None if value is None or not math.isfinite(value) else float(value)


def decide(interval: Interval, margin: float, side: str) -> str:
    """The three-valued verdict of an interval against a margin on the claim's side.

    side 'above': the claim is effect > margin; 'below': effect < margin; 'within': |effect| < margin.
    """
    lo, hi = interval.low, interval.high
    if side == "above":
        return "reproduced" if lo > margin else "not reproduced" if hi < margin else "inconclusive"
    if side == "below":
        return "reproduced" if hi < margin else "not reproduced" if lo > margin else "inconclusive"
    if side == "within":
        if margin <= 0:
            raise ValueError(f"an equivalence margin must be positive, got {margin}")
        if -margin < lo and hi < margin:
            return "reproduced"
        return "not reproduced" if lo >= margin or hi <= -margin else "inconclusive"
    raise ValueError(f"unknown side {side!r}: choose one of {', '.join(SIDES)}")


def empirical(key: str, statement: str, paper: str, interval: Interval, margin: float, side: str, *,
              what: str = "", unit: str = "", fmt: str = ".3g", detail: str = "") -> Claim:
    """An empirical claim decided by decide(interval, margin, side); what names the estimate (e.g. 'Δ accuracy')."""
    verdict = decide(interval, margin, side)
    rule = {"above": f"> {margin:{fmt}}{unit}", "below": f"< {margin:{fmt}}{unit}",
            "within": f"|·| < {margin:{fmt}}{unit}"}[side]
    name = f"{what} " if what else ""
    measured = f"{name}{interval.text(fmt, unit)}" + (f"; {detail}" if detail else "")
    return Claim(key, "empirical", statement, paper, measured, verdict, f"{name}{rule} (95 % CI, {interval.method})",
                 interval.n, _number(interval.estimate), _number(interval.low), _number(interval.high), float(margin), side)


def not_testable(key: str, statement: str, paper: str, reason: str, measured: str = "—") -> Claim:
    """An empirical claim that this scale cannot decide; reason says why (shown in the rule column)."""
    return Claim(key, "empirical", statement, paper, measured, "not testable at this scale", reason)


def gated(claim: Claim, holds: bool, reason: str) -> Claim:
    """claim itself when its precondition holds, else the same claim not testable at this scale for reason,
    its measurement kept."""
    return claim if holds else not_testable(claim.key, claim.statement, claim.paper, reason, measured=claim.measured)


def identity(key: str, statement: str, paper: str, deviation: float, tolerance: float, *,
             what: str = "max |Δ|", n: int | None = None, detail: str = "") -> Claim:
    """A derivation checked numerically: verified when deviation ≤ tolerance (a NaN deviation is a violation)."""
    verdict = "verified" if math.isfinite(deviation) and deviation <= tolerance else "violated"
    measured = f"{what} = {deviation:.2g}" + (f"; {detail}" if detail else "")
    return Claim(key, "identity", statement, paper, measured, verdict, f"{what} ≤ {tolerance:.0e}", n,
                 _number(deviation), None, _number(tolerance))


def control(key: str, statement: str, expected: str, measured: str, holds: bool, *, n: int | None = None) -> Claim:
    """A sanity check expected by construction: passed when holds."""
    return Claim(key, "control", statement, expected, measured, "passed" if holds else "failed", "expected by construction", n)


def summary(claims: list[Claim]) -> str:
    """Counts by kind and verdict, e.g. 'empirical: 2 reproduced, 1 inconclusive · identities: 3 verified'."""
    counts = Counter((c.kind, c.verdict) for c in claims)
    label = {"empirical": "empirical", "identity": "identities", "control": "controls"}
    parts = []
    for kind in KINDS:
        found = [f"{counts[kind, v]} {v}" for v in VERDICTS[kind] if counts[kind, v]]
        if found:
            parts.append(f"{label[kind]}: {', '.join(found)}")
    return " · ".join(parts) or "no claims"


class ClaimsTable(pd.DataFrame):
    """The claims as a table that shows every statement and number in full (pandas cuts cells at 50 characters)."""

    @property
    def _constructor(self) -> type[ClaimsTable]:
        return ClaimsTable

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None):
            return super()._repr_html_()

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None, "display.width", None):
            return super().__repr__()


def table(claims: list[Claim]) -> ClaimsTable:
    """The claims as rows: empirical first, then identities, then controls."""
    ordered = sorted(claims, key=lambda c: KINDS.index(c.kind))
    frame = ClaimsTable({"claim": [c.statement for c in ordered], "kind": [c.kind for c in ordered],
                         "paper": [c.paper for c in ordered], "measured here (95 % CI)": [c.measured for c in ordered],
                         "n": ["—" if c.n is None else f"{c.n:,}" for c in ordered],
                         "decided by": [c.rule for c in ordered], "verdict": [c.verdict for c in ordered]})
    return frame.set_index("claim")


def report(chapter: str, scale: str, claims: list[Claim]) -> ClaimsTable:
    """Glue every claim's number and verdict, save them under the run's results folder, and return the table.

    Glue keys: '<chapter>_<key>_measured', '<chapter>_<key>_verdict', '<chapter>_summary' (counts by kind
    and verdict) and '<chapter>_claims' (the table), so prose and the intro can cite them.
    """
    runtime.check_scale(scale)
    if len({c.key for c in claims}) != len(claims):
        raise ValueError(f"claim keys repeat in chapter {chapter!r}")
    for c in claims:
        glue(f"{chapter}_{c.key}_measured", c.measured, display=False)
        glue(f"{chapter}_{c.key}_verdict", c.verdict, display=False)
    text = summary(claims)
    glue(f"{chapter}_summary", text, display=False)
    out = runtime.results_dir(scale)
    out.mkdir(parents=True, exist_ok=True)
    counts = Counter(f"{c.kind}/{c.verdict}" for c in claims)
    record = {"chapter": chapter, "scale": scale, "summary": text, "counts": dict(sorted(counts.items())),
              "claims": [asdict(c) for c in claims]}
    (out / f"{chapter}_claims.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    box = table(claims)
    glue(f"{chapter}_claims", box, display=False)
    return box
