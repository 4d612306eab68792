"""Command line: `python -m scpaper run|render|claims|compare|note|notebooks|download ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scpaper.book import runtime


def _parser() -> argparse.ArgumentParser:
    """The argument parser of the sub-commands."""
    parser = argparse.ArgumentParser(prog="python -m scpaper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill and stage them for the book")
    run.add_argument("chapters", nargs="*", help="chapter numbers or name prefixes (default: all in _toc.yml)")
    run.add_argument("--scale", default="default", help="smoke, default or full (default: default)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--refresh", action="store_true", help="recompute every cached step")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a preset value for this run (TOML syntax, e.g. lams=[0.1,0.3]); repeatable")
    run.add_argument("--tag", default=None, help="write into results/<tag>/ (a variant) instead of results/<scale>/")
    run.add_argument("--dry-run", action="store_true",
                     help="with --scale full: the full shapes with iteration counts cut to one or two, into results/full-dry-run/")
    run.add_argument("--no-stage", action="store_true", help="leave book/executed/ alone (CI)")
    render = sub.add_parser("render", help="build the HTML book, from results/<scale>/ when --scale is given")
    render.add_argument("--scale", default=None, help="stage results/<scale>/*.ipynb first (a scale, a tag or full-dry-run)")
    render.add_argument("--fallback", default=None, help="stage chapters missing from results/<scale>/ from results/<fallback>/")
    render.add_argument("--into", type=Path, default=None, help="build a separate copy of the book in this folder")
    show = sub.add_parser("claims", help="print the claims table of a run")
    show.add_argument("chapter", nargs="?", default=None, help="chapter number or name prefix (default: every chapter)")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--scale", default=None, help="the run at this scale (default: default)")
    which.add_argument("--tag", default=None, help="the variant run results/<tag>/")
    compare = sub.add_parser("compare", help="compare two runs claim by claim, marking changed verdicts")
    compare.add_argument("run_a", help="a results folder: a scale, a tag, or a path")
    compare.add_argument("run_b")
    compare.add_argument("--chapter", default=None, help="only this chapter (number or name prefix)")
    note = sub.add_parser("note", help="add a sentence to an executed notebook's banner and provenance record")
    note.add_argument("notebook", type=Path, help="an executed notebook, e.g. results/full/04_sensitivity.ipynb")
    note.add_argument("text", help="the sentence, e.g. how the run was split across calls")
    notebooks = sub.add_parser("notebooks", help="print the executed notebook of every chapter in _toc.yml at a scale")
    notebooks.add_argument("--scale", default="smoke")
    down = sub.add_parser("download", help="fetch the full data sets and check their sha256")
    down.add_argument("--dest", type=Path, required=True, help="folder to fill; then set SCPAPER_DATA to it")
    down.add_argument("--only", default=None, help="comma-separated groups: mnist, natural_images, cifar10")
    down.add_argument("--base-url", default=None, help="a mirror holding the files under their registry names")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; errors are printed as one line and give exit status 1."""
    args = _parser().parse_args(argv)
    from scpaper.book import runner, runs
    from scpaper.data import DataError

    try:
        if args.command == "run":
            overrides = dict(runtime.parse_assignment(text) for text in args.overrides)
            for record in runner.run(args.chapters, args.scale, args.device, args.seed, args.refresh, overrides,
                                     args.tag, args.dry_run, not args.no_stage):
                print(f"{record['chapter']}: {record['wall_time_s']} s into results/{record['run']}/ on {record['device']}")
        elif args.command == "notebooks":
            runtime.check_scale(args.scale)
            print(" ".join(str(runtime.paths().results / args.scale / f"{c.stem}.ipynb") for c in runner.listed()))
        elif args.command == "render":
            print(f"book: {runner.render(args.scale, args.fallback, args.into) / 'index.html'}")
        elif args.command == "claims":
            print(runs.show(args.tag or args.scale or "default", args.chapter))
        elif args.command == "compare":
            print(runs.compare(args.run_a, args.run_b, args.chapter))
        elif args.command == "note":
            record = runner.add_note(args.notebook, args.text)
            print(f"{record['chapter']}: {runner.banner_text(record)}")
        else:
            from scpaper.data.download import GROUPS, download

            groups = tuple(args.only.split(",")) if args.only else GROUPS
            for path in download(args.dest, groups, args.base_url):
                print(f"fetched {path}")
            print(f"data in {args.dest}: set SCPAPER_DATA={args.dest}")
    except (ValueError, RuntimeError, DataError, OSError) as err:
        print(f"scpaper: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
