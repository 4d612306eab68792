"""One seed on one machine gives a byte-identical claims JSON run after run (issue 12 item 5).

A real chapter runs twice at smoke scale, each time from an empty cache and into its own results
folder. $SCPAPER_DETERMINISM_CHAPTER picks the chapter (default: chapter 1, the cheapest).
"""

import os

from scpaper.book import runner

CHAPTER = os.environ.get("SCPAPER_DETERMINISM_CHAPTER", "1")


def test_one_seed_gives_byte_identical_claims(tmp_path, monkeypatch):
    (chapter,) = runner.select([CHAPTER])
    written = []
    for run in ("first", "second"):
        monkeypatch.setenv("SCPAPER_CACHE", str(tmp_path / run / "cache"))
        record = runner.execute(chapter, "smoke", "cpu", 0, tmp_path / run / "results")
        written.append((tmp_path / run / "results" / record["claims"]["file"]).read_bytes())
    assert written[0] == written[1], f"{chapter.stem}: two smoke runs with seed 0 wrote different claims"
