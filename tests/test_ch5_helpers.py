"""Chapter 5's decision helpers: the clean-accuracy bound on the tuned λ, and how the best λ follows severity (ranks) and σ (slope)."""

import numpy as np

from scpaper.book import intervals
from scpaper.chapters import ch5_sdnet_robustness as ch


def test_tuned_lambda_respects_the_clean_accuracy_bound_and_prefers_lambda0_on_ties():
    lams = (0.05, 0.1, 0.2, 0.4)
    clean = [0.60, 0.60, 0.57, 0.30]
    assert ch.tuned_lambda(lams, [0.1, 0.1, 0.3, 0.9], clean, 0.1, 0.05) == 2  # 0.4 is most robust but costs 30 points
    assert ch.tuned_lambda(lams, [0.1, 0.1, 0.3, 0.9], clean, 0.1, 0.5) == 3
    assert ch.tuned_lambda(lams, [0.2, 0.2, 0.2, 0.2], clean, 0.1, 0.05) == 1


def test_best_lambda_rank_correlation_sees_a_rising_and_a_falling_optimum():
    lams = (0.1, 0.2, 0.3)
    correct = np.zeros((1, 3, 3, 10), bool)
    for s in range(3):
        correct[0, s, s] = True  # severity s is best at lams[s]
    assert ch.best_lambda_rank_correlation(correct, lams, np.arange(3)) == 1.0
    assert ch.best_lambda_rank_correlation(correct[:, ::-1], lams, np.arange(3)) == -1.0
    interval = intervals.over_items(lambda idx: ch.best_lambda_rank_correlation(correct, lams, np.arange(3), idx), 10)
    assert interval.low == interval.high == 1.0


def test_best_lambda_slope_weighs_how_far_the_optimum_moves_unlike_the_ranks():
    lams = (0.1, 0.2, 0.3, 0.8)
    sigma = np.array([0.0, 0.1, 0.2])
    near, far = np.zeros((3, 4, 10), bool), np.zeros((3, 4, 10), bool)
    for s, (j_near, j_far) in enumerate(((0, 0), (1, 1), (2, 3))):
        near[s, j_near], far[s, j_far] = True, True
    assert ch.best_lambda_slope(near, lams, sigma) == np.polyfit(sigma, [0.1, 0.2, 0.3], 1)[0]  # 1 λ per unit σ
    assert ch.best_lambda_slope(far, lams, sigma) > 3 * ch.best_lambda_slope(near, lams, sigma)
    assert ch.best_lambda_rank_correlation(near[None], lams, sigma) == ch.best_lambda_rank_correlation(far[None], lams, sigma)
    assert ch.best_lambda_slope(near[::-1], lams, sigma) < 0
