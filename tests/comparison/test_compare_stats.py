"""descent.comparison.stats against SciPy, and the intervals on a problem whose answer is known; the
performance profile against its definition worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st

from descent.comparison.profile import performance_ratios, profile
from descent.comparison.results import Pair, result_rows
from descent.comparison.stats import incomplete_beta, median, summarize, t_cdf, t_quantile, welch_p_value


@pytest.mark.parametrize("df", [1, 2, 3, 4, 4.5, 9, 30, 200])
def test_t_distribution_matches_scipy(df):
    for q in (0.6, 0.9, 0.95, 0.975, 0.995, 0.025):
        assert t_quantile(q, df) == pytest.approx(st.t.ppf(q, df), rel=1e-9, abs=1e-12)
    for t in (-6.0, -1.0, 0.0, 0.4, 2.5, 12.0):
        assert t_cdf(t, df) == pytest.approx(st.t.cdf(t, df), abs=1e-12)


def test_incomplete_beta_matches_scipy():
    for a, b, x in [(0.5, 0.5, 0.3), (2.0, 0.5, 0.9), (10.0, 3.0, 0.2), (0.7, 12.0, 0.05)]:
        assert incomplete_beta(a, b, x) == pytest.approx(st.beta.cdf(x, a, b), abs=1e-12)


def test_interval_and_welch_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(0.9, 0.02, rng.integers(2, 9)), rng.normal(0.88, 0.05, rng.integers(2, 9))
        s = summarize(list(a))
        low, high = st.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=st.sem(a))
        assert (s["ci_low"], s["ci_high"]) == (pytest.approx(low), pytest.approx(high))
        assert s["std"] == pytest.approx(a.std(ddof=1))
        assert welch_p_value(list(a), list(b)) == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)


def test_intervals_cover_the_known_mean_and_shrink_with_more_seeds():
    """Accuracies of a setting whose true mean is 0.9: 95% of intervals hold it, each interval holds its
    sample mean, and the average width falls like t_{n-1} / sqrt(n)."""
    rng = np.random.default_rng(1)
    widths = {}
    for n in (3, 5, 10, 20):
        hits, width = 0, 0.0
        for _ in range(2000):
            s = summarize(list(rng.normal(0.9, 0.01, n)))
            assert s["ci_low"] <= s["mean"] <= s["ci_high"]
            hits += s["ci_low"] <= 0.9 <= s["ci_high"]
            width += (s["ci_high"] - s["ci_low"]) / 2000
        assert 0.93 <= hits / 2000 <= 0.97, (n, hits)
        widths[n] = width
    assert widths[3] > widths[5] > widths[10] > widths[20]
    # E[s] = c4(n) sigma: the mean width is 2 t c4 sigma / sqrt(n)
    c4 = math.sqrt(2 / 19) * math.gamma(10) / math.gamma(9.5)
    assert widths[20] == pytest.approx(2 * st.t.ppf(0.975, 19) * c4 * 0.01 / math.sqrt(20), rel=0.03)


def test_one_seed_has_no_interval_and_median_counts_not_reached_as_slowest():
    assert math.isnan(summarize([0.9])["ci_low"]) and math.isnan(welch_p_value([0.9], [0.8, 0.7]))
    assert median([3.0, math.inf, 1.0]) == 3.0 and median([1.0, math.inf, math.inf]) == math.inf


def test_performance_profile_by_hand():
    times = {"a": {"x": 10.0, "y": 20.0, "z": math.inf}, "b": {"x": 30.0, "y": 10.0, "z": 15.0},
             "c": {"x": math.inf, "y": math.inf, "z": math.inf}}
    ratios = performance_ratios(times)
    assert ratios["a"] == {"x": 1.0, "y": 2.0, "z": math.inf}
    assert ratios["b"] == {"x": 3.0, "y": 1.0, "z": 1.5}
    assert set(ratios["c"].values()) == {math.inf}
    rho = profile(ratios, [1.0, 1.5, 2.0, 3.0])
    third = 1 / 3
    assert rho == {"x": [third, third, third, 2 * third], "y": [third, third, 2 * third, 2 * third],
                   "z": [0.0, third, third, third]}


def test_accuracy_intervals_are_clipped_to_0_1():
    """Seeds near 100%: SciPy's t interval passes 1 (an impossible mean); the reported one stops at 1 and
    keeps SciPy's lower end, in summarize and in results.csv's columns."""
    tests = [0.97, 1.0, 1.0, 0.99, 1.0]
    low, high = st.t.interval(0.95, len(tests) - 1, loc=np.mean(tests), scale=st.sem(tests))
    assert high > 1.0  # the premise: unclipped, the interval leaves [0, 1]
    s = summarize(tests, bounds=(0.0, 1.0))
    assert s["ci_high"] == 1.0 and s["ci_low"] == pytest.approx(low)
    assert summarize(tests)["ci_high"] == pytest.approx(high)  # no bounds: the plain t interval
    assert summarize([0.0, 0.03, 0.0], bounds=(0.0, 1.0))["ci_low"] == 0.0
    runs = [{"index": k, "seed": k, "setting": {"lr": 0.1}, "val_curve": [a], "epoch_seconds": [1.0],
             "steps_per_epoch": 1, "val_accuracy": a, "test_accuracy": a} for k, a in enumerate(tests)]
    (row,) = result_rows([Pair("spiral", "sgd", runs[:2], runs)])
    assert row["ci_high"] == 1.0 and row["ci_low"] == pytest.approx(low)
    assert row["ci_low"] <= row["test_mean"] <= row["ci_high"]
