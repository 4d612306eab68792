"""Entry point of `python -m scpaper`."""

from scpaper.cli import main

raise SystemExit(main())
