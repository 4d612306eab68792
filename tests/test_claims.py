"""Claims boxes: verdicts follow the measured comparison, keys are unique, records are written."""

import html
import json

import pytest

from scpaper.book import claims, runtime


def test_report_writes_record_and_table(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    measured = 1e-9
    box = [claims.Claim("exact", "closed form equals solver", "exact", f"{measured:.0e}", measured < 1e-6),
           claims.Claim("bound", "a bound that fails here", "holds", "0.3", 0.3 > 0.5)]
    table = claims.report("toy", "smoke", box)
    assert list(table["verdict"]) == ["reproduced", "not reproduced"]
    record = json.loads((tmp_path / "results" / "smoke" / "toy_claims.json").read_text())
    assert record["summary"] == "1 of 2 claims reproduced"
    assert [c["verdict"] for c in record["claims"]] == ["reproduced", "not reproduced"]


def test_repeated_keys_and_bad_scale_rejected():
    c = claims.Claim("k", "s", "p", "m", True)
    with pytest.raises(ValueError, match="claim keys repeat"):
        claims.report("toy", "smoke", [c, c])
    with pytest.raises(ValueError, match="unknown scale"):
        claims.report("toy", "tiny", [c])


def test_claims_table_shows_long_numbers_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    measured = "max |Δ| < 1e-06 (fp32), < 1e-14 (fp64); 100% certified over every patch of every image"
    table = claims.report("toy", "smoke", [claims.Claim("long", "a claim", "the paper", measured, True)])
    assert html.escape(measured) in table._repr_html_() and measured in repr(table)
