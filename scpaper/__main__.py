"""Entry point of `python -m scpaper`."""

from scpaper.book.cli import main

raise SystemExit(main())
