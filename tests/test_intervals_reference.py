"""Intervals against independent references: textbook formulas in scipy.stats, not the module's own calls."""

import math

import numpy as np
import pytest
from scipy import stats

from scpaper.book import intervals
from scpaper.book.intervals import Interval


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    """The Student-t 95 % interval of a mean, from scipy.stats.t.interval."""
    return stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))


@pytest.mark.parametrize("k, n", [(0, 12), (3, 12), (12, 12), (412, 1000), (1, 1)])
def test_proportion_is_clopper_pearson_from_the_beta_quantiles(k, n):
    low = 0.0 if k == 0 else stats.beta.ppf(0.025, k, n - k + 1)
    high = 1.0 if k == n else stats.beta.ppf(0.975, k + 1, n - k)
    p = intervals.proportion(k, n)
    assert (p.estimate, p.n, p.method) == (k / n, n, "Clopper–Pearson")
    assert (p.low, p.high) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("k, n", [(1, 0), (0, 0), (-1, 5), (6, 5)])
def test_proportion_refuses_impossible_counts(k, n):
    with pytest.raises(ValueError, match=rf"^need 0 ≤ successes ≤ n and n > 0, got {k} of {n}$"):
        intervals.proportion(k, n)


def test_over_seeds_is_the_t_interval():
    values = np.array([0.81, 0.86, 0.84, 0.90])
    got = intervals.over_seeds(values)
    assert (got.estimate, got.n, got.method) == (pytest.approx(values.mean()), 4, "t over seeds")
    assert (got.low, got.high) == pytest.approx(_t_interval(values), abs=1e-12)
    one = intervals.over_seeds([0.5])
    assert (one.estimate, one.low, one.high, one.n) == (0.5, -math.inf, math.inf, 1)


def test_bootstrap_intervals_agree_with_the_t_interval_on_a_large_sample():
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 2.0, 3000)
    b = a - 0.3 + rng.normal(0.0, 0.5, 3000)
    for got, values in ((intervals.mean(a), a), (intervals.paired_difference(a, b), a - b)):
        low, high = _t_interval(values)
        assert got.estimate == pytest.approx(values.mean(), abs=1e-12) and got.n == 3000
        assert abs(got.low - low) < 0.1 * (high - low) and abs(got.high - high) < 0.1 * (high - low)
    assert intervals.mean(a).method == "bootstrap over items"
    assert intervals.paired_difference(a, b).method == "paired bootstrap"
    swapped = intervals.paired_difference(b, a)
    assert swapped.estimate == pytest.approx(-(a - b).mean(), abs=1e-12) and swapped.high < 0


def test_degenerate_and_single_samples():
    assert intervals.mean([2.0, 2.0, 2.0]) == Interval(2.0, 2.0, 2.0, 3, "bootstrap over items")
    same = intervals.paired_difference([1.0, 0.0, 1.0], [0.0, -1.0, 0.0])  # every difference is 1
    assert (same.estimate, same.low, same.high) == (1.0, 1.0, 1.0)
    one = intervals.mean([3.5])
    assert (one.estimate, one.low, one.high, one.n, one.method) == (3.5, -math.inf, math.inf, 1, "single value")
    pair = intervals.paired_difference([3.0], [1.0])
    assert (pair.estimate, pair.low, pair.high, pair.n, pair.method) == (2.0, -math.inf, math.inf, 1, "single pair")
    for bad, message in (([], r"^values is empty$"), ([1.0, math.nan], r"^values holds NaN or inf values$")):
        with pytest.raises(ValueError, match=message):
            intervals.mean(bad)
    with pytest.raises(ValueError, match=r"^b holds NaN or inf values$"):
        intervals.paired_difference([1.0, 2.0], [1.0, math.inf])
    with pytest.raises(ValueError, match=r"^a is empty$"):
        intervals.paired_difference([], [1.0])
    with pytest.raises(ValueError, match=r"^x holds NaN or inf values$"):
        intervals.rank_correlation([1.0, 2.0, math.nan], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"^y is empty$"):
        intervals.rank_correlation([1.0, 2.0, 3.0], [])


def test_bootstrap_uses_enough_resamples_for_a_stable_95_percent_interval():
    values = np.random.default_rng(2).exponential(1.0, 400)
    got = intervals.mean(values)
    ref = stats.bootstrap((values,), np.mean, n_resamples=20_000, method="percentile", confidence_level=0.95,
                          rng=np.random.default_rng(3)).confidence_interval
    width = ref.high - ref.low
    assert abs(got.low - ref.low) < 0.05 * width and abs(got.high - ref.high) < 0.05 * width
    assert got == intervals.mean(values)  # a fixed seed: the same interval every run


def test_rank_correlation_is_spearman_with_a_paired_interval():
    rng = np.random.default_rng(4)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    got = intervals.rank_correlation(x, y)
    rho = stats.spearmanr(x, y).statistic
    assert got.estimate == pytest.approx(rho, abs=1e-12) and got.n == 300 and got.method == "Spearman, paired bootstrap"
    z, half = math.atanh(rho), 1.96 * math.sqrt(1.06 / 297)  # Fisher's z with the Fieller–Hartley–Pearson variance
    assert got.low == pytest.approx(math.tanh(z - half), abs=0.03) and got.high == pytest.approx(math.tanh(z + half), abs=0.03)
    flat = intervals.rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    assert (flat.estimate, flat.low, flat.high, flat.n, flat.method) == (0.0, -1.0, 1.0, 3, "undefined (a constant side)")
    tied = intervals.rank_correlation([0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert tied.low == 0.0 < tied.estimate <= tied.high <= 1.0  # a third of the resamples have a constant side: ρ = 0
    unit = intervals.rank_correlation(np.arange(5.0), np.arange(5.0) / 4)  # a side whose range is exactly 1
    assert (unit.estimate, unit.low, unit.high) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    with pytest.raises(ValueError, match=r"^need ≥ 3 pairs of equal length, got 2 and 2$"):
        intervals.rank_correlation([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(ValueError, match=r"^need ≥ 3 pairs of equal length, got 3 and 4$"):
        intervals.rank_correlation([1.0, 2.0, 3.0], [2.0, 1.0, 3.0, 4.0])


def test_scaled_and_text():
    iv = Interval(0.0125, -0.005, 0.03, 50, "m")
    pct = iv.scaled(100)
    assert (pct.estimate, pct.low, pct.high, pct.n, pct.method) == (1.25, -0.5, 3.0, 50, "m")
    flipped = iv.scaled(-1)
    assert (flipped.low, flipped.high) == (-0.03, 0.005)
    assert pct.text() == "1.25 [-0.5, 3]" and pct.text(".1f", " pts") == "1.2 pts [-0.5 pts, 3.0 pts]"
    assert Interval(1.0, -math.inf, math.inf, 1, "one seed").text() == "1 [±∞, ±∞]"


def test_labels_of_one_seed_and_of_small_numbers():
    assert intervals.over_seeds([0.5]).method == "one seed"
    with pytest.raises(ValueError, match=r"^values per seed is empty$"):
        intervals.over_seeds([])
    assert Interval(2.5e-7, 1e-7, 4e-7, 3, "m").text() == "2.5e-07 [1e-07, 4e-07]"


def test_only_constant_samples_get_a_degenerate_interval():
    """Samples (or paired differences) whose range is 1, or pairs whose sum is constant, are resampled as usual."""
    for got in (intervals.mean([0.0, 1.0] * 10), intervals.paired_difference([1.0, 0.0] * 10, [0.0] * 20),
                intervals.paired_difference(np.arange(20.0), np.arange(20.0)[::-1])):
        assert got.low < got.estimate < got.high


def test_boolean_and_unsigned_scores_are_read_as_floats():
    right = np.array([True, False, True, True] * 5)
    other = np.array([False, True, True, False] * 5)
    got = intervals.paired_difference(right, other)  # 0/1 correctness as booleans
    assert got.estimate == pytest.approx(0.25) and got.low < 0.25 < got.high
    small = intervals.paired_difference(other.astype(np.uint8), right.astype(np.uint8))  # 0 − 1 must not wrap to 255
    assert small.estimate == pytest.approx(-0.25) and small.high < 1


def test_over_items_is_a_percentile_bootstrap_over_whole_items():
    values = np.random.default_rng(3).normal(size=400)
    iv = intervals.over_items(lambda idx: float(values[idx].mean()), len(values))
    assert (iv.estimate, iv.n, iv.method) == (pytest.approx(values.mean()), 400, "bootstrap over images")
    rng = np.random.default_rng(4)  # a hand-written percentile bootstrap: the same interval up to resampling noise
    means = [values[rng.integers(0, 400, 400)].mean() for _ in range(4000)]
    ref = np.percentile(means, [2.5, 97.5])
    assert (iv.low, iv.high) == pytest.approx(tuple(ref), abs=0.012)
    assert iv == intervals.over_items(lambda idx: float(values[idx].mean()), len(values))  # a fixed seed
    # resampling is with replacement over items: a resample holds about 1 − 1/e of the distinct items
    distinct = intervals.over_items(lambda idx: len(np.unique(idx)) / 500, 500, what="distinct items")
    assert distinct.estimate == 1.0 and distinct.method == "distinct items"
    assert 0.60 < distinct.low < 1 - 1 / math.e < distinct.high < 0.67


def test_over_items_of_a_constant_statistic_is_a_point_and_shifted_keeps_the_method():
    iv = intervals.over_items(lambda idx: 2.5, 30)
    assert (iv.estimate, iv.low, iv.high, iv.n) == (2.5, 2.5, 2.5, 30)
    moved = Interval(0.5, 0.25, 0.75, 40, "paired bootstrap").shifted(0.5)
    assert moved == Interval(0.0, -0.25, 0.25, 40, "paired bootstrap")


def test_over_items_resamples_the_set_number_of_times_and_silences_only_degenerate_data():
    calls = []
    intervals.over_items(lambda idx: calls.append(len(idx)) or 1.0 * len(idx), 20)
    assert calls == [20] * (1 + intervals.RESAMPLES)  # the estimate, then one call per resample of all 20 items

    def noisy(idx: np.ndarray) -> float:
        import warnings
        warnings.warn("a statistic's own warning", UserWarning)
        return float(idx.mean())

    with pytest.warns(UserWarning, match="own warning") as record:
        intervals.over_items(noisy, 10)
    assert len(record) == 1 + intervals.RESAMPLES  # the resamples' warnings too, not only the estimate's
    # resamples where the statistic is undefined (NaN) leave no interval: the estimate stands as a point
    iv = intervals.over_items(lambda idx: 1.0 if 0 in idx else float("nan"), 50)
    assert (iv.estimate, iv.low, iv.high) == (1.0, 1.0, 1.0)


def test_vectorized_statistics_give_the_one_by_one_interval_exactly():
    rng = np.random.default_rng(7)
    a, b = (rng.random(3000) < 0.9).astype(float), (rng.random(3000) < 0.85).astype(float)
    one_by_one = intervals._bootstrap((a, b), lambda u, v: np.mean(u - v), True, "percentile")
    paired = intervals.paired_difference(a, b)
    assert (paired.low, paired.high) == one_by_one
    x = rng.normal(size=1000)
    single = intervals.mean(x)
    assert (single.low, single.high) == intervals._bootstrap((x,), np.mean, False, "percentile")


def _pigeonhole_sd(d: np.ndarray) -> float:
    """Owen (2007): the pigeonhole bootstrap's variance of a crossed mean is var(row means)/R + var(column means)/C
    + mean(interaction²)/(RC), population variances; its square root."""
    rows, cols, grand = d.mean(1, keepdims=True), d.mean(0, keepdims=True), d.mean()
    inter = d - rows - cols + grand
    return math.sqrt(rows.var() / d.shape[0] + cols.var() / d.shape[1] + (inter ** 2).mean() / d.size)


@pytest.mark.parametrize("seed_spread", [0.0, 0.02, 0.1])
def test_paired_over_seeds_has_owens_pigeonhole_variance(seed_spread):
    """Seeds × test images of 0/1 correctness with a per-seed shift: the interval's half-width is 1.96 standard
    deviations of Owen's closed form, so it widens with the spread between seeds."""
    rng = np.random.default_rng(5)
    seeds, items = 5, 4000
    shift = seed_spread * rng.standard_normal((seeds, 1))
    a = (rng.random((seeds, items)) < 0.9 + shift).astype(np.float64)
    b = (rng.random((seeds, items)) < 0.88).astype(np.float64)
    got = intervals.paired_over_seeds(a, b)
    d = a - b
    assert (got.estimate, got.n, got.method) == (pytest.approx(d.mean()), seeds * items,
                                                  "paired bootstrap over seeds × items")
    half = stats.norm.ppf(0.975) * _pigeonhole_sd(d)
    assert (got.high - got.low) / 2 == pytest.approx(half, rel=0.12)
    pooled = intervals.paired_difference(a.ravel(), b.ravel())  # the interval that ignores the seeds
    assert got.high - got.low >= 0.9 * (pooled.high - pooled.low)
    if seed_spread >= 0.1:
        assert got.high - got.low > 2 * (pooled.high - pooled.low)


def test_paired_over_seeds_with_one_seed_is_the_paired_bootstrap_and_refuses_bad_shapes():
    rng = np.random.default_rng(6)
    a, b = rng.random((1, 50)), rng.random((1, 50))
    assert intervals.paired_over_seeds(a, b) == intervals.paired_difference(a[0], b[0])
    same = intervals.paired_over_seeds(np.ones((3, 4)), np.zeros((3, 4)))
    assert (same.estimate, same.low, same.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^need two equal \(seeds, items\) arrays, got shapes \(3,\) and \(3,\)$"):
        intervals.paired_over_seeds(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        intervals.paired_over_seeds([[1.0, math.nan]], [[0.0, 0.0]])


def test_paired_over_seeds_is_owens_resampling_of_seeds_and_items():
    """The same draws written out: seeds and items resampled independently, 2,000 times, percentile interval."""
    rng = np.random.default_rng(7)
    a, b = rng.random((3, 40)) < 0.8, rng.random((3, 40)) < 0.7  # boolean correctness, as chapters keep it
    got = intervals.paired_over_seeds(a, b)
    assert intervals.paired_over_seeds(a, b) == got  # a fixed seed: the same interval every call
    d = a.astype(np.float64) - b.astype(np.float64)
    draw = np.random.default_rng(intervals.SEED)
    means = []
    for _ in range(intervals.RESAMPLES):
        seeds = draw.choice(3, 3)
        items = draw.choice(40, 40)
        means.append(d[np.ix_(seeds, items)].mean())
    low, high = np.quantile(means, [0.025, 0.975])
    assert got.estimate == pytest.approx(d.mean())
    assert got.low == pytest.approx(low, abs=0.02) and got.high == pytest.approx(high, abs=0.02)
    assert (got.high - got.estimate) / (got.estimate - got.low) == pytest.approx(1.0, abs=0.05)  # both tails at 2.5 %


def test_paired_over_seeds_takes_the_point_interval_only_for_constant_differences():
    one_sided = intervals.paired_over_seeds([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]], np.zeros((2, 3)))  # differences 0 or 1
    assert one_sided.low < one_sided.estimate < one_sided.high
    same = intervals.paired_over_seeds(np.ones((3, 4)), np.zeros((3, 4)))
    assert (same.n, same.method) == (12, "paired bootstrap over seeds × items")


@pytest.mark.parametrize("a, b, shapes", [(np.ones((2, 3)), np.ones((2, 4)), r"\(2, 3\) and \(2, 4\)"),
                                          (np.ones((2, 0)), np.ones((2, 0)), r"\(2, 0\) and \(2, 0\)")])
def test_paired_over_seeds_refuses_unequal_or_empty_arrays(a, b, shapes):
    with pytest.raises(ValueError, match=rf"^need two equal \(seeds, items\) arrays, got shapes {shapes}$"):
        intervals.paired_over_seeds(a, b)


@pytest.mark.parametrize("bad", ["a", "b"])
def test_paired_over_seeds_refuses_nan_in_either_array(bad):
    a, b = np.zeros((2, 3)), np.zeros((2, 3))
    (a if bad == "a" else b)[1, 2] = math.nan
    with pytest.raises(ValueError, match=r"^a or b holds NaN or inf values$"):
        intervals.paired_over_seeds(a, b)
