"""Open every page of the built book in headless Chromium and check what a reader would see.

Usage: python scripts/check_rendered.py _build/html
For each page listed in _toc.yml: MathJax typeset the math (mjx-container elements present and no raw
TeX delimiters left in the text), no displayed equation is wider than the text column (a reader would
have to scroll it), and every <img> points to a file that exists and decodes as an image.
Prints one line per page and exits 1 if any page fails. A screenshot of each page lands in
_build/screenshots/ for a human look.
"""

from __future__ import annotations

import html.parser
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.image as mpimg

from scpaper.book.runner import toc_files

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--allow-file-access-from-files"]


class _Page(html.parser.HTMLParser):
    """Collect image sources, MathJax containers and visible text of a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.mathjax = 0
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        if tag == "mjx-container":
            self.mathjax += 1
        if tag in ("script", "style", "mjx-container", "code", "pre"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "mjx-container", "code", "pre"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip == 0:
            self.text.append(data)


WINDOW = "--window-size=1200,1800"
# Appended to a copy of each page: once MathJax has typeset, record on <body> the displayed equations that
# are wider than their box (ids of the nearest labelled ancestors), so that the DOM dump carries layout.
PROBE = """<script>
window.addEventListener("load", () => {
  const measure = () => {
    const wide = [...document.querySelectorAll('mjx-container[display="true"]')]
      .filter(e => e.scrollWidth > e.clientWidth + 1 || e.parentElement.scrollWidth > e.parentElement.clientWidth + 1)
      .map(e => (e.closest("[id]") || {id: "?"}).id);
    document.body.setAttribute("data-wide-math", wide.join(" "));
    document.body.setAttribute("data-probed", "yes");
  };
  (window.MathJax && MathJax.startup) ? MathJax.startup.promise.then(measure) : measure();
});
</script>"""


def dom(page: Path, profile: str) -> str:
    """The DOM of page after scripts ran (MathJax included), with the layout probe's findings on <body>."""
    probe = page.with_name(f".probe-{page.name}")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        cmd = ["chromium", *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", WINDOW, "--dump-dom",
               probe.as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    finally:
        probe.unlink()


def screenshot(page: Path, out: Path, profile: str) -> None:
    """Save a PNG of the page as a reader sees it."""
    cmd = ["chromium", *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", WINDOW,
           f"--screenshot={out}", page.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)


def check(page: Path, profile: str) -> list[str]:
    """Problems a reader would see on one page (empty when it is fine)."""
    parsed = _Page()
    dumped = dom(page, profile)
    parsed.feed(dumped)
    text = " ".join(parsed.text)
    problems = []
    raw = re.findall(r"\\\(|\\\[|\$\$", text)
    if raw:
        problems.append(f"{len(raw)} raw TeX delimiters left untypeset")
    source = page.read_text()
    if ("\\(" in source or "\\[" in source or 'class="math' in source) and parsed.mathjax == 0:
        problems.append("the page has math but MathJax typeset none of it")
    if parsed.mathjax:
        body = re.search(r"<body[^>]*>", dumped)
        attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(0) if body else ""))
        if attrs.get("data-probed") != "yes":
            problems.append("the layout probe did not run")
        elif attrs.get("data-wide-math"):
            wide = attrs["data-wide-math"].split()
            problems.append(f"{len(wide)} displayed equations wider than the text column (in: {', '.join(sorted(set(wide)))})")
    for src in parsed.images:
        if src.startswith("data:"):
            continue
        target = (page.parent / src.split("#")[0].split("?")[0]).resolve()
        if not target.is_file():
            problems.append(f"image {src} does not exist")
            continue
        try:
            mpimg.imread(target)
        except Exception as err:  # noqa: BLE001 - any decoding failure is what we report
            problems.append(f"image {src} does not decode ({err})")
    return problems


def pages(html_root: Path) -> list[Path]:
    """The built pages of every document in _toc.yml."""
    return [(html_root / f"{f}.html").resolve() for f in toc_files(ROOT)]


def main(html_root: Path) -> int:
    """Check every page; print a line each; return the exit status."""
    shots = html_root.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory() as profile:
        for page in pages(html_root):
            if not page.is_file():
                print(f"FAIL {page.relative_to(html_root)}: not built")
                failed += 1
                continue
            problems = check(page, profile)
            screenshot(page, shots / f"{page.stem}.png", profile)
            print(f"{'FAIL' if problems else 'ok  '} {page.relative_to(html_root)}" + (": " + "; ".join(problems) if problems else ""))
            failed += bool(problems)
    print(f"rendered pages: {len(pages(html_root)) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/check_rendered.py _build/html")
    sys.exit(main(Path(sys.argv[1]).resolve()))
