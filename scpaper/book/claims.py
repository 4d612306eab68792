"""Claims boxes: each claim of a paper beside our measured number and a verdict computed from it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pandas as pd

from scpaper.book import runtime
from scpaper.book.glue import glue


@dataclass(frozen=True)
class Claim:
    """One claim: what the paper states, what we measured, and whether the measurement bears it out."""

    key: str
    statement: str
    paper: str
    measured: str
    holds: bool

    @property
    def verdict(self) -> str:
        """'reproduced' when the measured value bears the claim out, else 'not reproduced'."""
        return "reproduced" if self.holds else "not reproduced"


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


def report(chapter: str, scale: str, claims: list[Claim]) -> ClaimsTable:
    """Glue every claim's number and verdict, save them under results/<scale>/, and return the table.

    Glue keys: '<chapter>_<key>_measured', '<chapter>_<key>_verdict', '<chapter>_summary'
    ('k of n claims reproduced') and '<chapter>_claims' (the table), so prose and the intro can cite them.
    """
    runtime.check_scale(scale)
    if len({c.key for c in claims}) != len(claims):
        raise ValueError(f"claim keys repeat in chapter {chapter!r}")
    for c in claims:
        glue(f"{chapter}_{c.key}_measured", c.measured, display=False)
        glue(f"{chapter}_{c.key}_verdict", c.verdict, display=False)
    summary = f"{sum(c.holds for c in claims)} of {len(claims)} claims reproduced"
    glue(f"{chapter}_summary", summary, display=False)
    out = runtime.paths().results / scale
    out.mkdir(parents=True, exist_ok=True)
    record = {"chapter": chapter, "scale": scale, "summary": summary,
              "claims": [{**asdict(c), "verdict": c.verdict} for c in claims]}
    (out / f"{chapter}_claims.json").write_text(json.dumps(record, indent=2) + "\n")
    table = ClaimsTable({"claim": [c.statement for c in claims], "paper": [c.paper for c in claims],
                         "measured here": [c.measured for c in claims], "verdict": [c.verdict for c in claims]})
    table = table.set_index("claim")
    glue(f"{chapter}_claims", table, display=False)
    return table
