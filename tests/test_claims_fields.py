"""Claims field by field: the exact record each constructor builds, the margins' edges, and what report glues and writes."""

import json
import math

import pytest

from scpaper.book import claims, runtime
from scpaper.book.intervals import Interval


def iv(lo: float, hi: float, n: int = 40) -> Interval:
    return Interval((lo + hi) / 2, lo, hi, n, "built")


@pytest.mark.parametrize("side, lo, hi, verdict", [
    ("above", 0.0, 1.0, "inconclusive"), ("above", -1.0, 0.0, "inconclusive"),
    ("below", 0.0, 1.0, "inconclusive"), ("below", -1.0, 0.0, "inconclusive"),
    ("within", -1.0, 0.5, "inconclusive"), ("within", -0.5, 1.0, "inconclusive"),
    ("within", 1.0, 2.0, "not reproduced"), ("within", -2.0, -1.0, "not reproduced"),
    ("within", -0.99, 0.99, "reproduced")])
def test_decide_at_the_margin_itself(side, lo, hi, verdict):
    """An interval that touches the margin has not cleared it (strict inequalities in every rule)."""
    assert claims.decide(iv(lo, hi), 1.0 if side == "within" else 0.0, side) == verdict


def test_decide_with_a_nonzero_margin_and_the_equivalence_margin_check():
    assert claims.decide(iv(1.5, 2.5), 1.0, "above") == "reproduced"
    assert claims.decide(iv(0.5, 0.9), 1.0, "above") == "not reproduced"
    assert claims.decide(iv(0.5, 0.9), 1.0, "below") == "reproduced"
    assert claims.decide(iv(1.5, 2.5), 1.0, "below") == "not reproduced"
    for margin in (0.0, -1.0):
        with pytest.raises(ValueError, match=rf"^an equivalence margin must be positive, got {margin}$"):
            claims.decide(iv(-0.1, 0.1), margin, "within")
    with pytest.raises(ValueError, match=r"^unknown side 'left': choose one of above, below, within$"):
        claims.decide(iv(0.0, 1.0), 0.0, "left")


def test_empirical_record_in_full():
    c = claims.empirical("gain", "sparse beats dense", "+2 points", Interval(1.25, 0.5, 2.0, 300, "paired bootstrap"),
                         0.25, "above", what="Δ accuracy", unit=" pts", fmt=".2f", detail="3 seeds")
    assert c == claims.Claim("gain", "empirical", "sparse beats dense", "+2 points",
                             "Δ accuracy 1.25 pts [0.50 pts, 2.00 pts]; 3 seeds", "reproduced",
                             "Δ accuracy > 0.25 pts (95 % CI, paired bootstrap)", 300, 1.25, 0.5, 2.0, 0.25, "above")
    plain = claims.empirical("k", "s", "p", iv(-0.2, 0.1), 0.5, "within")
    assert (plain.measured, plain.rule, plain.verdict) == ("-0.05 [-0.2, 0.1]", "|·| < 0.5 (95 % CI, built)", "reproduced")
    below = claims.empirical("k", "s", "p", iv(0.1, 0.2), 0.05, "below", unit="%")
    assert (below.rule, below.verdict) == ("< 0.05% (95 % CI, built)", "not reproduced")
    one = claims.empirical("k", "s", "p", Interval(0.3, -math.inf, math.inf, 1, "one seed"), 0.0, "above")
    assert (one.low, one.high, one.estimate, one.n, one.verdict) == (None, None, 0.3, 1, "inconclusive")
    assert type(one.estimate) is float and one.measured == "0.3 [±∞, ±∞]"


def test_not_testable_identity_and_control_records_in_full():
    assert claims.not_testable("k", "s", "p", "headroom below the interval") == claims.Claim(
        "k", "empirical", "s", "p", "—", "not testable at this scale", "headroom below the interval")
    assert claims.not_testable("k", "s", "p", "r", measured="0.1").measured == "0.1"
    assert claims.identity("eq5", "algebra", "eq 5", 3e-13, 1e-9, what="max |x − y|", n=12, detail="fp64") == claims.Claim(
        "eq5", "identity", "algebra", "eq 5", "max |x − y| = 3e-13; fp64", "verified", "max |x − y| ≤ 1e-09", 12,
        3e-13, None, 1e-9)
    assert claims.identity("k", "s", "p", 1e-9, 1e-9).verdict == "verified"  # the tolerance itself passes
    inf = claims.identity("k", "s", "p", math.inf, 1e-9)
    assert (inf.verdict, inf.estimate, inf.measured) == ("violated", None, "max |Δ| = inf")
    assert claims.control("c", "stated", "all certified", "12 of 12", True, n=12) == claims.Claim(
        "c", "control", "stated", "all certified", "12 of 12", "passed", "expected by construction", 12)
    assert claims.control("c", "s", "e", "m", False).n is None


def test_claim_errors_name_the_claim_and_the_choices():
    with pytest.raises(ValueError, match=r"^claim 'k': unknown kind 'guess'; choose one of empirical, identity, control$"):
        claims.Claim("k", "guess", "s", "p", "m", "reproduced")
    with pytest.raises(ValueError, match=r"^claim 'k': verdict 'passed' is not one of \('verified', 'violated'\)$"):
        claims.Claim("k", "identity", "s", "p", "m", "passed")
    for kind, verdict in (("empirical", "not testable at this scale"), ("control", "failed"), ("identity", "violated")):
        assert claims.Claim("k", kind, "s", "p", "m", verdict).verdict == verdict


def test_summary_orders_kinds_and_verdicts_and_says_when_empty():
    box = [claims.control("c1", "s", "e", "m", False), claims.identity("i1", "s", "p", 1.0, 0.0),
           claims.empirical("e1", "s", "p", iv(-2, -1), 0.0, "above"), claims.control("c2", "s", "e", "m", True),
           claims.empirical("e2", "s", "p", iv(1, 2), 0.0, "above"), claims.empirical("e3", "s", "p", iv(1, 2), 0.0, "above")]
    assert claims.summary(box) == ("empirical: 2 reproduced, 1 not reproduced · identities: 1 violated · "
                                   "controls: 1 passed, 1 failed")
    assert claims.summary([]) == "no claims"


def test_table_rows_and_columns():
    box = [claims.control("c", "check", "exp", "meas", True, n=1234),
           claims.identity("i", "ident", "eq", 0.0, 1e-9),
           claims.empirical("e", "emp", "paper", iv(1, 2, n=5000), 0.0, "above")]
    t = claims.table(box)
    assert t.index.name == "claim" and list(t.index) == ["emp", "ident", "check"]
    assert list(t.columns) == ["kind", "paper", "measured here (95 % CI)", "n", "decided by", "verdict"]
    assert t.to_dict("records") == [
        {"kind": "empirical", "paper": "paper", "measured here (95 % CI)": "1.5 [1, 2]", "n": "5,000",
         "decided by": "> 0 (95 % CI, built)", "verdict": "reproduced"},
        {"kind": "identity", "paper": "eq", "measured here (95 % CI)": "max |Δ| = 0", "n": "—",
         "decided by": "max |Δ| ≤ 1e-09", "verdict": "verified"},
        {"kind": "control", "paper": "exp", "measured here (95 % CI)": "meas", "n": "1,234",
         "decided by": "expected by construction", "verdict": "passed"}]
    assert isinstance(t.head(1), claims.ClaimsTable)


def test_report_glues_every_claim_and_writes_the_record(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    monkeypatch.delenv("SCPAPER_RESULTS", raising=False)
    glued = {}
    monkeypatch.setattr(claims, "glue", lambda name, value, display=True: glued.__setitem__(name, (value, display)))
    box = [claims.empirical("gap", "a gain", "+5 points", iv(1.0, 3.0), 0.0, "above", unit=" pts"),
           claims.control("ok", "ü check", "e", "m", False)]
    table = claims.report("ch9", "default", box)
    assert set(glued) == {"ch9_gap_measured", "ch9_gap_verdict", "ch9_ok_measured", "ch9_ok_verdict", "ch9_summary", "ch9_claims"}
    assert glued["ch9_gap_measured"] == ("2 pts [1 pts, 3 pts]", False) and glued["ch9_ok_verdict"] == ("failed", False)
    assert glued["ch9_summary"] == ("empirical: 1 reproduced · controls: 1 failed", False)
    assert glued["ch9_claims"][0] is table and glued["ch9_claims"][1] is False
    text = (tmp_path / "results" / "default" / "ch9_claims.json").read_text()
    assert text.endswith("}\n") and "ü check" in text and text.startswith('{\n  "chapter"')
    record = json.loads(text)
    assert record == {"chapter": "ch9", "scale": "default", "summary": "empirical: 1 reproduced · controls: 1 failed",
                      "counts": {"control/failed": 1, "empirical/reproduced": 1},
                      "claims": [{"key": "gap", "kind": "empirical", "statement": "a gain", "paper": "+5 points",
                                  "measured": "2 pts [1 pts, 3 pts]", "verdict": "reproduced",
                                  "rule": "> 0 pts (95 % CI, built)", "n": 40, "estimate": 2.0, "low": 1.0, "high": 3.0,
                                  "margin": 0.0, "side": "above"},
                                 {"key": "ok", "kind": "control", "statement": "ü check", "paper": "e", "measured": "m",
                                  "verdict": "failed", "rule": "expected by construction", "n": None, "estimate": None,
                                  "low": None, "high": None, "margin": None, "side": None}]}
    assert list(record["counts"]) == sorted(record["counts"])
    with pytest.raises(ValueError, match=r"^claim keys repeat in chapter 'ch9'$"):
        claims.report("ch9", "smoke", [box[0], box[0]])


def test_default_format_and_a_second_report_into_the_same_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    monkeypatch.delenv("SCPAPER_RESULTS", raising=False)
    monkeypatch.setattr(claims, "glue", lambda name, value, display=True: None)
    tiny = claims.empirical("k", "s", "p", Interval(1.5e-5, 1e-5, 2e-5, 9, "m"), 0.0, "above")
    assert tiny.measured == "1.5e-05 [1e-05, 2e-05]" and tiny.rule == "> 0 (95 % CI, m)"
    claims.report("ch1", "smoke", [tiny])
    claims.report("ch2", "smoke", [tiny])  # the results folder exists already
    assert sorted(p.name for p in (tmp_path / "results" / "smoke").iterdir()) == ["ch1_claims.json", "ch2_claims.json"]
