"""Print each executed cell's duration and the last progress line it printed, from executed or partial notebooks.

    python scripts/cell_times.py results/full/.04_sensitivity.partial.ipynb [more notebooks ...]

A notebook papermill stopped (at a deadline or a failure) shows its finished cells with their durations and
the cell it was running with its last progress line, which is how the cost of each step of a preset is read.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def last_line(outputs: list[dict]) -> str:
    """The last non-empty line of the cell's stream outputs (a progress bar's latest state)."""
    line = ""
    for out in outputs:
        if out.get("output_type") == "stream":
            text = out["text"] if isinstance(out["text"], str) else "".join(out["text"])
            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)  # terminal cursor moves of nested progress bars
            lines = [s for s in text.replace("\r", "\n").splitlines() if s.strip()]
            line = lines[-1].strip() if lines else line
    return line


def report(path: Path) -> list[str]:
    """One line per executed code cell: status, seconds, the start of its source and its last progress line."""
    cells = json.loads(path.read_text())["cells"]
    rows = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("papermill", {})
        if cell["cell_type"] != "code" or meta.get("status") in (None, "pending"):
            continue
        source = "".join(cell["source"]).strip().splitlines()
        seconds = meta.get("duration")
        rows.append(f"{meta['status']:9s} {'' if seconds is None else f'{seconds:8.1f} s':>10s}  "
                    f"{(source[0] if source else '')[:60]:60s}  {last_line(cell.get('outputs', []))[:90]}")
    return rows


def main() -> None:
    """Report every notebook named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    for path in parser.parse_args().notebooks:
        print(f"== {path}")
        print("\n".join(report(path)))


if __name__ == "__main__":
    main()
