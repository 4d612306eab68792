"""Command line: `python -m scpaper run|render|notebooks|download ...`."""

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
    render = sub.add_parser("render", help="build the HTML book, from results/<scale>/ when --scale is given")
    render.add_argument("--scale", default=None, help="stage results/<scale>/*.ipynb first (e.g. full)")
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
    from scpaper.book import runner
    from scpaper.data import DataError

    try:
        if args.command == "run":
            for record in runner.run(args.chapters, args.scale, args.device, args.seed, args.refresh):
                print(f"{record['chapter']}: {record['wall_time_s']} s at scale {args.scale} on {record['device']}")
        elif args.command == "notebooks":
            runtime.check_scale(args.scale)
            print(" ".join(str(runtime.paths().results / args.scale / f"{c.stem}.ipynb") for c in runner.listed()))
        elif args.command == "render":
            runner.render(args.scale)
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
