"""Seed statistics without SciPy: Student's t distribution, confidence intervals and Welch's test.

For ``n`` runs of one setting on different seeds, with sample mean ``m`` and sample standard deviation ``s``
(``n - 1`` in the denominator), the two-sided ``level`` confidence interval of the mean is::

    m -/+ t_{(1 + level) / 2, n - 1} * s / sqrt(n)

with ``t_{q, nu}`` the ``q`` quantile of Student's t with ``nu`` degrees of freedom. Two settings A and B
differ significantly at 5% when Welch's test (unequal variances) gives ``p < 0.05``::

    t = (m_A - m_B) / sqrt(s_A^2 / n_A + s_B^2 / n_B)
    nu = (s_A^2 / n_A + s_B^2 / n_B)^2 / ((s_A^2 / n_A)^2 / (n_A - 1) + (s_B^2 / n_B)^2 / (n_B - 1))
    p = 2 * (1 - F_nu(|t|))

The t CDF is the regularized incomplete beta function, ``F_nu(t) = 1 - I_x(nu / 2, 1 / 2) / 2`` with
``x = nu / (nu + t^2)`` for ``t >= 0``, evaluated by Lentz's continued fraction (Press et al., "Numerical
Recipes", 3rd ed., section 6.4); the quantile inverts it by bisection. The tests check every function against
``scipy.stats``.

>>> round(t_quantile(0.975, 4), 4)  # the 95% interval of 5 seeds is m -/+ 2.776 s / sqrt(5)
2.7764
>>> summary = summarize([0.91, 0.93, 0.92])
>>> summary["mean"], round(summary["ci_low"], 4), round(summary["ci_high"], 4)
(0.92, 0.8952, 0.9448)
>>> summarize([0.99, 1.0, 1.0], bounds=(0.0, 1.0))["ci_high"]  # an accuracy's interval ends at 1
1.0
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

LEVEL = 0.95  # the confidence level of every interval descent reports


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), converged to 1e-15."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df > 0`` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


@functools.lru_cache(maxsize=256)
def t_quantile(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (``0 < q < 1``)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"invalid q={q!r}: must be in (0, 1)")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        low, high = high, 2.0 * high
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < q else (low, mid)
        if high - low <= 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def summarize(values: Sequence[float], level: float = LEVEL,
              bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """``n``, ``mean``, ``std`` (sample, ``n - 1``) and the ``level`` t interval ``ci_low``..``ci_high`` of
    the mean; with one value the spread is unknown: ``std`` and the interval are NaN. ``bounds``: the range
    the values can take (accuracies: ``(0, 1)``); the interval is clipped to it, since a mean outside it is
    impossible (the t interval assumes an unbounded normal and can pass 1 when the seeds are near 1)."""
    n = len(values)
    if n == 0:
        raise ValueError("invalid values=[]: must hold at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile((1.0 + level) / 2.0, n - 1) * std / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"n": n, "mean": mean, "std": std, "ci_low": low, "ci_high": high}


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test that ``a`` and ``b`` have the same mean (NaN below 2 values each)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    sa, sb = summarize(a), summarize(b)
    va, vb = sa["std"] ** 2 / len(a), sb["std"] ** 2 / len(b)
    if va + vb == 0.0:
        return 1.0 if sa["mean"] == sb["mean"] else 0.0
    t = (sa["mean"] - sb["mean"]) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return 2.0 * (1.0 - t_cdf(abs(t), df))


def median(values: Sequence[float]) -> float:
    """The median; ``inf`` values (a target not reached) count as larger than any number."""
    if not values:
        raise ValueError("invalid values=[]: must hold at least one value")
    ordered, n = sorted(values), len(values)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])
