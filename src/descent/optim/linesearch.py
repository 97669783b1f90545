r"""Line searches along a direction d from x: choose a step t for ``x + t d``.

With :math:`\phi(t) = f(x + t d)` and :math:`\phi'(t) = \nabla f(x + t d)^\top d`:

* **Armijo backtracking** (Newton): t = t0, t0 * shrink, t0 * shrink^2, ... until sufficient decrease
  :math:`\phi(t) \le \phi(0) + c_1 t \phi'(0)`.
* **strong Wolfe** (L-BFGS): sufficient decrease and the curvature condition
  :math:`|\phi'(t)| \le c_2 |\phi'(0)|`, by bracketing (Algorithm 3.5) and zooming (Algorithm 3.6) with
  cubic interpolation (eq. 3.59) of J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., 2006.

A non-finite :math:`\phi(t)` (NaN or Inf) counts as "too far": the step is shortened, never accepted. Both
searches stop after ``max_evals`` evaluations and then return the best step that satisfies sufficient
decrease, which is t = 0 (``ok=False``) if none did, so the caller can restore the parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Step:
    """The outcome of a line search: step t, phi(t), the gradient there (Wolfe only), evaluations used."""

    t: float
    f: float
    g: torch.Tensor | None
    evals: int
    ok: bool


def backtracking(value: Callable[[float], float], f0: float, dphi0: float, t: float, *,
                 c1: float = 1e-4, shrink: float = 0.5, max_evals: int = 30) -> Step:
    """Armijo backtracking: the first t in t0 * shrink^k with phi(t) <= phi(0) + c1 t phi'(0)."""
    for evals in range(1, max_evals + 1):
        f = value(t)
        if math.isfinite(f) and f <= f0 + c1 * t * dphi0:
            return Step(t, f, None, evals, True)
        t *= shrink
    return Step(0.0, f0, None, max_evals, False)


def cubic_minimizer(a: float, fa: float, da: float, b: float, fb: float, db: float) -> float | None:
    """Minimizer of the cubic through (a, fa) and (b, fb) with slopes da, db (N&W eq. 3.59); None if none."""
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    discriminant = d1 * d1 - da * db
    if not discriminant >= 0.0:
        return None
    d2 = math.copysign(math.sqrt(discriminant), b - a)
    denominator = db - da + 2.0 * d2
    if denominator == 0.0:
        return None
    t = b - (b - a) * (db + d2 - d1) / denominator
    return t if math.isfinite(t) else None


@dataclass
class _Point:
    t: float
    f: float
    g: torch.Tensor | None
    dphi: float


def strong_wolfe(phi: Callable[[float], tuple[float, torch.Tensor]], f0: float, g0: torch.Tensor,
                 d: torch.Tensor, t: float, *, c1: float = 1e-4, c2: float = 0.9, max_evals: int = 25,
                 tolerance_change: float = 1e-9) -> Step:
    """A step satisfying the strong Wolfe conditions (N&W Algorithm 3.5, bracketing phase).

    phi(t) returns (f(x + t d), grad f(x + t d)). The trial step grows (cubic extrapolation, at most 10x)
    until it brackets an acceptable step, which the zoom phase (N&W Algorithm 3.6) then finds.
    """
    dphi0 = float(g0.dot(d))
    start = _Point(0.0, f0, g0, dphi0)
    prev, evals = start, 0
    while evals < max_evals:
        f, g = phi(t)
        evals += 1
        if not math.isfinite(f):
            return _zoom(phi, start, prev, _Point(t, math.inf, None, math.nan), d, evals, c1, c2, max_evals,
                         tolerance_change)
        new = _Point(t, f, g, float(g.dot(d)))
        if f > f0 + c1 * t * dphi0 or (prev.t > 0 and f >= prev.f):
            return _zoom(phi, start, prev, new, d, evals, c1, c2, max_evals, tolerance_change)
        if abs(new.dphi) <= -c2 * dphi0:
            return Step(t, f, g, evals, True)
        if new.dphi >= 0:
            return _zoom(phi, start, new, prev, d, evals, c1, c2, max_evals, tolerance_change)
        # phi still decreasing with a steep slope: extrapolate beyond t, at least 1.1x and at most 10x.
        guess = cubic_minimizer(prev.t, prev.f, prev.dphi, t, f, new.dphi)
        low, high = t + 0.1 * (t - prev.t), 10.0 * t
        prev, t = new, high if guess is None else min(max(guess, low), high)
    return Step(prev.t, prev.f, prev.g, evals, prev.t > 0)


def _zoom(phi, start: _Point, lo: _Point, hi: _Point, d: torch.Tensor, evals: int, c1: float, c2: float,
          max_evals: int, tolerance_change: float) -> Step:
    """N&W Algorithm 3.6: shrink [lo, hi], lo always the best point with sufficient decrease."""
    d_max = float(d.abs().max())
    while evals < max_evals and hi.t != lo.t and abs(hi.t - lo.t) * d_max >= tolerance_change:
        a, b = min(lo.t, hi.t), max(lo.t, hi.t)
        guess = None
        if math.isfinite(hi.f) and math.isfinite(hi.dphi):
            guess = cubic_minimizer(lo.t, lo.f, lo.dphi, hi.t, hi.f, hi.dphi)
        # Keep the trial inside the middle 80% of the interval so it always shrinks.
        margin = 0.1 * (b - a)
        t = 0.5 * (a + b) if guess is None else min(max(guess, a + margin), b - margin)
        f, g = phi(t)
        evals += 1
        if not math.isfinite(f):
            hi = _Point(t, math.inf, None, math.nan)
            continue
        new = _Point(t, f, g, float(g.dot(d)))
        if f > start.f + c1 * t * start.dphi or f >= lo.f:
            hi = new
            continue
        if abs(new.dphi) <= -c2 * start.dphi:
            return Step(t, f, g, evals, True)
        if new.dphi * (hi.t - lo.t) >= 0:
            hi = lo
        lo = new
    return Step(lo.t, lo.f, lo.g, evals, lo.t > 0)
