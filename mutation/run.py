"""Run mutmut 3 over the core modules, one module at a time, and print the kill rate of each.

Usage: python mutation/run.py [MODULE ...] [--report | --survivors]   (modules: the tables of modules.toml)

Each module gets a scratch folder .cache/mutation/<module>/ (the repository's scpaper/ and tests/ linked
in, a setup.cfg written from modules.toml) where `mutmut run` mutates only that module's file and runs
only that module's tests. Killed = killed, timed out or caught by a crash; the mutants listed in
mutation/equivalent.md are left out of the rate. --report prints the table from the last run only;
--survivors reruns only the last run's surviving and unchecked mutants, against the tests as they are now.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRATCH = ROOT / ".cache" / "mutation"
KILLED = {1, 3, 24, -24, 152, 255, 36, -11, -9}  # mutmut's exit codes for killed, timeout and segfault
SURVIVED = {0, 5, 33}  # survived, or no test reaches the mutated function


def equivalents() -> dict[str, str]:
    """Mutant name → reason, from the '- `name`: reason' lines of equivalent.md."""
    found = {}
    for line in (HERE / "equivalent.md").read_text().splitlines():
        m = re.match(r"^- `([^`]+)`: (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def setup_cfg(source: str, tests: list[str], settings: dict) -> str:
    """The [mutmut] section that mutates one file and runs the given pytest selection."""
    lines = "\n    ".join(tests)
    return (f"[mutmut]\nsource_paths = scpaper\nonly_mutate = {source}\n"
            f"pytest_add_cli_args_test_selection =\n    {lines}\n"
            f"pytest_add_cli_args =\n    -p\n    no:cacheprovider\n"
            f"timeout_multiplier = {settings['timeout_multiplier']}\nuse_git_change_detection = false\n")


def run(name: str, spec: dict, settings: dict, survivors: list[str] | None = None) -> None:
    """A fresh mutmut run over one module in its own scratch folder, or a rerun of the given survivors there."""
    folder = SCRATCH / name
    if survivors is None:
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "mutants").mkdir(parents=True)
        for link in ("scpaper", "tests"):
            (folder / link).symlink_to(ROOT / link)
        (folder / "mutants" / "data").symlink_to(ROOT / "data")  # scpaper.data reads ../data beside the package
        (folder / "setup.cfg").write_text(setup_cfg(spec["source"], spec["tests"], settings))
    elif not survivors:
        return
    else:
        (folder / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # map the tests as they are now
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", SCPAPER_THREADS="1")
    mutmut = [sys.executable, "-m", "mutmut", "run", "--max-children", str(settings["max_children"]),
              *(spec.get("only", []) if survivors is None else survivors)]
    print(f"== {name}: mutmut run over {spec['source']} (log: {folder / 'mutmut.log'})", flush=True)
    with open(folder / "mutmut.log", "w") as log:
        done = subprocess.run(mutmut, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit(f"mutmut failed on {name} (exit {done.returncode}); see {folder / 'mutmut.log'}")


def tally(name: str, spec: dict, equivalent: dict[str, str]) -> dict:
    """Counts of one module's last run: total, killed, equivalent, and the names of the survivors."""
    meta = SCRATCH / name / "mutants" / f"{spec['source']}.meta"
    if not meta.is_file():
        return {"module": name, "total": 0}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    if spec.get("only"):  # the functions this module's run is restricted to
        codes = {k: c for k, c in codes.items() if any(fnmatch.fnmatch(k, g) for g in spec["only"])}
    survivors = sorted(k for k, c in codes.items() if c in SURVIVED and k not in equivalent)
    unchecked_names = sorted(k for k, c in codes.items() if c is None)
    killed = sum(c in KILLED for c in codes.values())
    unchecked = sum(c is None for c in codes.values())
    equiv = sum(k in equivalent for k, c in codes.items() if c in SURVIVED)
    judged = len(codes) - equiv - unchecked
    return {"module": name, "total": len(codes), "killed": killed, "equivalent": equiv, "unchecked": unchecked,
            "survived": survivors, "unchecked_names": unchecked_names,
            "rate": killed / judged if judged else float("nan")}


def main(argv: list[str]) -> None:
    """Run (unless --report) the named modules, or all, then print the kill rate per module."""
    config = tomllib.loads((HERE / "modules.toml").read_text())
    settings = config.pop("settings")
    names = [a for a in argv if not a.startswith("--")] or list(config)
    unknown = [n for n in names if n not in config]
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}: choose from {', '.join(config)}")
    equivalent = equivalents()
    if "--report" not in argv:
        for name in names:
            last = tally(name, config[name], equivalent)
            again = last.get("survived", []) + last.get("unchecked_names", []) if "--survivors" in argv else None
            run(name, config[name], settings, again)
    rows = [tally(n, config[n], equivalent) for n in names]
    print(f"\n{'module':<12}{'mutants':>8}{'killed':>8}{'equiv.':>8}{'survived':>9}{'unchecked':>10}{'kill rate':>11}")
    for r in rows:
        if not r["total"]:
            print(f"{r['module']:<12}  (not run)")
            continue
        print(f"{r['module']:<12}{r['total']:>8}{r['killed']:>8}{r['equivalent']:>8}{len(r['survived']):>9}"
              f"{r['unchecked']:>10}{r['rate']:>10.1%}")
    judged = [r for r in rows if r["total"]]
    killed = sum(r["killed"] for r in judged)
    base = sum(r["total"] - r["equivalent"] - r["unchecked"] for r in judged)
    if base:
        print(f"{'all':<12}{sum(r['total'] for r in judged):>8}{killed:>8}{'':>8}{'':>9}{'':>10}{killed / base:>10.1%}")
    for r in judged:
        for s in r["survived"]:
            print(f"survived: {s}")


if __name__ == "__main__":
    main(sys.argv[1:])
