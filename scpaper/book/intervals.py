"""95 % intervals behind the empirical verdicts: paired bootstrap (over items, or over seeds × items), proportions,
means over seeds, rank correlations.

Every estimator returns an Interval (estimate, low, high, n, method) and is deterministic: resampling uses
a fixed seed, so one run gives the same interval every time.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
BATCH = 200  # resamples evaluated at once by a vectorized statistic (200 × n floats per array)
SEED = 12345


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval over n observations, and how it was computed."""

    estimate: float
    low: float
    high: float
    n: int
    method: str

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units (e.g. ×100 for percentage points)."""
        lo, hi = sorted((self.low * factor, self.high * factor))
        return Interval(self.estimate * factor, lo, hi, self.n, self.method)

    def shifted(self, by: float) -> Interval:
        """The interval of (effect − by), e.g. our accuracy against the paper's number."""
        return Interval(self.estimate - by, self.low - by, self.high - by, self.n, self.method)

    def text(self, fmt: str = ".3g", unit: str = "") -> str:
        """'0.42 [0.31, 0.55]' with an optional unit after each number."""
        def f(v: float) -> str:
            return "±∞" if not math.isfinite(v) else f"{v:{fmt}}{unit}"
        return f"{f(self.estimate)} [{f(self.low)}, {f(self.high)}]"


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """values as a finite float64 vector, or a one-line ValueError."""
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or inf values")
    return a


def _bootstrap(data: tuple[np.ndarray, ...], statistic: Callable, paired: bool, method: str,
               vectorized: bool = False) -> tuple[float, float]:
    """scipy.stats.bootstrap percentile interval; a constant sample gives the degenerate interval [v, v].

    A vectorized statistic (it takes axis=) is evaluated on BATCH resamples at a time instead of one by one."""
    if all(np.ptp(d) == 0 for d in data) or (paired and np.ptp(data[0] - data[1]) == 0):
        value = float(statistic(*data))
        return value, value
    res = stats.bootstrap(data, statistic, paired=paired, vectorized=vectorized, n_resamples=RESAMPLES,
                          batch=BATCH if vectorized else None, confidence_level=CONFIDENCE, method=method,
                          rng=np.random.default_rng(SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mean(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean of per-item values with a percentile-bootstrap interval over the items."""
    a = _as_1d(values, "values")
    if a.size == 1:
        return Interval(float(a[0]), -math.inf, math.inf, 1, "single value")
    low, high = _bootstrap((a,), np.mean, paired=False, method="percentile", vectorized=True)
    return Interval(float(a.mean()), low, high, a.size, "bootstrap over items")


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> Interval:
    """mean(a − b) for two methods scored on the same items (per-item values or 0/1 correctness), paired bootstrap."""
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"paired samples differ in size: {x.size} vs {y.size}")
    if x.size == 1:
        return Interval(float(x[0] - y[0]), -math.inf, math.inf, 1, "single pair")
    low, high = _bootstrap((x, y), lambda u, v, axis=-1: np.mean(u - v, axis=axis), paired=True, method="percentile",
                           vectorized=True)
    return Interval(float(np.mean(x - y)), low, high, x.size, "paired bootstrap")


def paired_over_seeds(a: Sequence[Sequence[float]] | np.ndarray, b: Sequence[Sequence[float]] | np.ndarray) -> Interval:
    """mean(a − b) for two methods scored on the same items under each of several seeds (rows: seeds, columns:
    items), by a bootstrap that resamples seeds and items independently (Owen's pigeonhole bootstrap), so the
    interval carries the spread between seeds as well as between items; one seed is paired_difference."""
    x, y = (np.asarray(v, dtype=np.float64) for v in (a, b))
    if x.ndim != 2 or x.shape != y.shape or x.size == 0:
        raise ValueError(f"need two equal (seeds, items) arrays, got shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("a or b holds NaN or inf values")
    if x.shape[0] == 1:
        return paired_difference(x[0], y[0])
    d = x - y
    n_seeds, n_items = d.shape
    method = "paired bootstrap over seeds × items"
    if np.ptp(d) == 0:
        return Interval(float(d.mean()), float(d.mean()), float(d.mean()), d.size, method)
    rng = np.random.default_rng(SEED)
    resampled = []
    for start in range(0, RESAMPLES, BATCH):
        size = min(BATCH, RESAMPLES - start)
        seeds = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=size)  # how often each seed is drawn
        items = rng.multinomial(n_items, np.full(n_items, 1 / n_items), size=size)
        resampled.append(np.einsum("rs,si,ri->r", seeds, d, items) / d.size)
    low, high = np.quantile(np.concatenate(resampled), [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return Interval(float(d.mean()), float(low), float(high), d.size, method)


def proportion(successes: int, n: int) -> Interval:
    """A share k/n with its exact (Clopper–Pearson) interval."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 ≤ successes ≤ n and n > 0, got {successes} of {n}")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return Interval(successes / n, float(ci.low), float(ci.high), int(n), "Clopper–Pearson")


def over_seeds(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean of one number per seed with a Student-t interval; one seed gives an unbounded interval."""
    a = _as_1d(values, "values per seed")
    if a.size == 1:
        return Interval(float(a[0]), -math.inf, math.inf, 1, "one seed")
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return Interval(float(a.mean()), float(a.mean() - half), float(a.mean() + half), a.size, "t over seeds")


def rank_correlation(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> Interval:
    """Spearman's ρ between paired values with a paired-bootstrap interval."""
    u, v = _as_1d(x, "x"), _as_1d(y, "y")
    if u.shape != v.shape or u.size < 3:
        raise ValueError(f"need ≥ 3 pairs of equal length, got {u.size} and {v.size}")

    def rho(p: np.ndarray, q: np.ndarray) -> float:
        if np.ptp(p) == 0 or np.ptp(q) == 0:
            return 0.0
        return float(stats.spearmanr(p, q).statistic)

    if np.ptp(u) == 0 or np.ptp(v) == 0:
        return Interval(0.0, -1.0, 1.0, u.size, "undefined (a constant side)")
    low, high = _bootstrap((u, v), rho, paired=True, method="percentile")
    return Interval(rho(u, v), low, high, u.size, "Spearman, paired bootstrap")


def over_items(statistic: Callable[[np.ndarray], float], n: int, what: str = "bootstrap over images") -> Interval:
    """A statistic of whole per-item arrays (it takes an index array into n items), percentile bootstrap over items."""
    idx = np.arange(n)
    estimate = float(statistic(idx))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # a constant statistic: the interval is [v, v]
        res = stats.bootstrap((idx,), statistic, vectorized=False, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                              method="percentile", rng=np.random.default_rng(SEED))
    low, high = res.confidence_interval
    low, high = (estimate, estimate) if not np.isfinite([low, high]).all() else (float(low), float(high))
    return Interval(estimate, low, high, n, what)


def weakest(comparisons: dict[str, Interval], side: str = "above") -> tuple[str, Interval]:
    """The comparison a claim about every one of them must survive: the lowest lower bound ('above'), the highest upper
    bound ('below') or the end farthest from 0 ('within')."""
    rules = {"above": lambda iv: -iv.low, "below": lambda iv: iv.high, "within": lambda iv: max(abs(iv.low), abs(iv.high))}
    if side not in rules:
        raise ValueError(f"side must be one of {', '.join(rules)}, got {side!r}")
    return max(comparisons.items(), key=lambda item: rules[side](item[1]))
