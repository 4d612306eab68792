"""Claims: every verdict rule can return each of its values; intervals match independent computations."""

import html
import json
import math

import numpy as np
import pytest
from scipy import stats

from scpaper.book import claims, intervals, runtime
from scpaper.book.intervals import Interval


def iv(lo: float, hi: float) -> Interval:
    return Interval((lo + hi) / 2, lo, hi, 100, "constructed")


@pytest.mark.parametrize("side, lo, hi, verdict", [
    ("above", 0.1, 0.3, "reproduced"), ("above", -0.3, -0.1, "not reproduced"), ("above", -0.1, 0.1, "inconclusive"),
    ("below", -0.3, -0.1, "reproduced"), ("below", 0.1, 0.3, "not reproduced"), ("below", -0.1, 0.1, "inconclusive"),
    ("within", -0.5, 0.5, "reproduced"), ("within", 1.2, 1.5, "not reproduced"), ("within", -1.5, -1.1, "not reproduced"),
    ("within", 0.5, 1.5, "inconclusive"), ("within", -3.0, 3.0, "inconclusive")])
def test_decide_returns_every_verdict(side, lo, hi, verdict):
    assert claims.decide(iv(lo, hi), 1.0 if side == "within" else 0.0, side) == verdict


def test_unbounded_interval_is_inconclusive():
    assert claims.decide(intervals.over_seeds([0.7]), 0.0, "above") == "inconclusive"


def test_identity_verified_and_violated():
    assert claims.identity("a", "s", "p", 1e-12, 1e-9).verdict == "verified"
    assert claims.identity("a", "s", "p", 1e-3, 1e-9).verdict == "violated"
    assert claims.identity("a", "s", "p", math.nan, 1e-9).verdict == "violated"


def test_control_passed_and_failed_and_bad_kinds_rejected():
    assert claims.control("c", "s", "e", "m", True).verdict == "passed"
    assert claims.control("c", "s", "e", "m", False).verdict == "failed"
    with pytest.raises(ValueError, match="unknown kind"):
        claims.Claim("k", "guess", "s", "p", "m", "reproduced")
    with pytest.raises(ValueError, match="is not one of"):
        claims.Claim("k", "identity", "s", "p", "m", "reproduced")
    with pytest.raises(ValueError, match="unknown side"):
        claims.decide(iv(0, 1), 0.0, "sideways")


def test_summary_counts_kinds_apart():
    box = [claims.empirical("e1", "s", "p", iv(0.1, 0.2), 0.0, "above"),
           claims.empirical("e2", "s", "p", iv(-0.1, 0.2), 0.0, "above"),
           claims.not_testable("e3", "s", "p", "too small"),
           claims.identity("i", "s", "p", 0.0, 1e-9), claims.control("c", "s", "e", "m", True)]
    assert claims.summary(box) == ("empirical: 1 reproduced, 1 inconclusive, 1 not testable at this scale · "
                                   "identities: 1 verified · controls: 1 passed")


def test_gated_claim_keeps_its_verdict_only_when_its_precondition_holds():
    claim = claims.empirical("gain", "a gain", "+5 points", iv(-3.0, -1.0), 0.0, "above", unit=" pts")
    assert claims.gated(claim, True, "untrained") is claim
    off = claims.gated(claim, False, "the net is untrained at this scale")
    assert (off.key, off.kind, off.statement, off.paper) == (claim.key, "empirical", claim.statement, claim.paper)
    assert off.verdict == "not testable at this scale" and off.rule == "the net is untrained at this scale"
    assert off.measured == claim.measured and off.low is None and off.estimate is None


def test_report_writes_record_and_table(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    monkeypatch.delenv("SCPAPER_RESULTS", raising=False)
    box = [claims.identity("exact", "closed form equals solver", "exact", 1e-9, 1e-6),
           claims.empirical("gap", "a gain that fails here", "+5 points", iv(-3.0, -1.0), 0.0, "above", unit=" pts")]
    table = claims.report("toy", "smoke", box)
    assert list(table["verdict"]) == ["not reproduced", "verified"]
    record = json.loads((tmp_path / "results" / "smoke" / "toy_claims.json").read_text())
    assert record["counts"] == {"empirical/not reproduced": 1, "identity/verified": 1}
    gap = next(c for c in record["claims"] if c["key"] == "gap")
    assert (gap["low"], gap["high"], gap["n"], gap["kind"]) == (-3.0, -1.0, 100, "empirical")
    assert "> 0 pts" in gap["rule"]
    recorded = Interval(gap["estimate"], gap["low"], gap["high"], gap["n"], "from the record")
    assert claims.decide(recorded, gap["margin"], gap["side"]) == gap["verdict"]  # the record decides itself


def test_repeated_keys_and_bad_scale_rejected():
    c = claims.control("k", "s", "p", "m", True)
    with pytest.raises(ValueError, match="claim keys repeat"):
        claims.report("toy", "smoke", [c, c])
    with pytest.raises(ValueError, match="unknown scale"):
        claims.report("toy", "tiny", [c])


def test_claims_table_shows_long_numbers_in_full(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "ROOT", tmp_path)
    detail = "max |Δ| < 1e-06 (fp32), < 1e-14 (fp64); 100% certified over every patch of every image"
    table = claims.report("toy", "smoke", [claims.identity("long", "a claim", "the paper", 0.0, 1e-6, detail=detail)])
    assert html.escape(detail) in table._repr_html_() and detail in repr(table)


def test_paired_interval_is_narrower_than_unpaired_for_correlated_scores():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.6).astype(float)
    b = a.copy()
    flip = rng.random(2000) < 0.05
    b[flip] = 1 - b[flip]
    paired = intervals.paired_difference(a, b)
    assert paired.low <= paired.estimate <= paired.high
    unpaired_half = 1.96 * math.sqrt(a.var(ddof=1) / 2000 + b.var(ddof=1) / 2000)
    assert paired.high - paired.low < unpaired_half


def test_intervals_match_scipy_and_are_deterministic():
    p = intervals.proportion(30, 100)
    ci = stats.binomtest(30, 100).proportion_ci(method="exact")
    assert (p.low, p.high) == pytest.approx((ci.low, ci.high))
    seeds = intervals.over_seeds([0.90, 0.92, 0.91])
    half = stats.t.ppf(0.975, 2) * np.std([0.90, 0.92, 0.91], ddof=1) / math.sqrt(3)
    assert (seeds.low, seeds.high) == pytest.approx((0.91 - half, 0.91 + half))
    x = np.arange(20.0)
    assert intervals.mean(x) == intervals.mean(x)
    rho = intervals.rank_correlation(x, x ** 2)
    assert rho.estimate == pytest.approx(1.0) and rho.low == pytest.approx(1.0)
    with pytest.raises(ValueError, match="differ in size"):
        intervals.paired_difference([1, 2], [1, 2, 3])


def test_shifted_interval_moves_every_bound():
    moved = iv(0.5, 1.5).shifted(1.0)
    assert (moved.estimate, moved.low, moved.high, moved.n) == (0.0, -0.5, 0.5, 100)


def test_a_claim_about_every_k_is_decided_where_it_is_least_favourable():
    comparisons = {"k=1": Interval(-2.0, -3.0, -1.0, 10, "t"), "k=10": Interval(1.0, 0.5, 1.5, 10, "t"),
                   "k=100": Interval(3.0, 2.0, 4.0, 10, "t")}
    assert intervals.weakest(comparisons)[0] == intervals.weakest(comparisons, "above")[0] == "k=1"  # lowest lower bound
    assert intervals.weakest(comparisons, "below")[0] == "k=100"  # highest upper bound: "never beats" fails there first
    assert intervals.weakest(comparisons, "within")[0] == "k=100"  # |4.0| is the end farthest from 0
    with pytest.raises(ValueError, match="side must be one of above, below, within"):
        intervals.weakest(comparisons, "sideways")
