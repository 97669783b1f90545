"""Performance profiles (Dolan & Moré, "Benchmarking optimization software with performance profiles",
Mathematical Programming 91, 2002), the aggregate of MLCommons' AlgoPerf benchmark.

With ``t[w, o]`` the time optimizer ``o`` needs to reach workload ``w``'s target (``inf`` when it never does),
the performance ratio and the profile of ``o`` are::

    r[w, o] = t[w, o] / min_o' t[w, o']
    rho_o(tau) = |{w : r[w, o] <= tau}| / |W|

``rho_o(1)`` is the fraction of workloads on which ``o`` is the fastest; ``rho_o(tau)`` for large ``tau`` the
fraction it solves at all. A workload no optimizer solves has ratio ``inf`` for everyone. AlgoPerf integrates
``rho`` up to ``tau = 4``; descent draws the profile and reports ``rho(1)``, ``rho(2)`` and ``rho(4)``.

>>> times = {"spiral": {"sgd": 20.0, "adam": 10.0}, "digits": {"sgd": 30.0, "adam": math.inf}}
>>> ratios = performance_ratios(times)
>>> ratios["spiral"], ratios["digits"]
({'sgd': 2.0, 'adam': 1.0}, {'sgd': 1.0, 'adam': inf})
>>> profile(ratios, [1.0, 2.0])
{'sgd': [0.5, 1.0], 'adam': [0.5, 0.5]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

TAUS_REPORTED = (1.0, 2.0, 4.0)


def performance_ratios(times: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``r[w][o] = t[w][o] / min_o' t[w][o']`` for every workload ``w`` and optimizer ``o``."""
    ratios = {}
    for workload, by_optimizer in times.items():
        best = min(by_optimizer.values(), default=math.inf)
        if best == 0.0:  # reached before the first check: ratio 1 for those that did, inf for the others
            ratios[workload] = {o: (1.0 if t == 0.0 else math.inf) for o, t in by_optimizer.items()}
        else:
            ratios[workload] = {o: (t / best if math.isfinite(t) else math.inf) for o, t in by_optimizer.items()}
    return ratios


def profile(ratios: Mapping[str, Mapping[str, float]], taus: Sequence[float]) -> dict[str, list[float]]:
    """``rho_o(tau)`` for each optimizer ``o`` and each ``tau`` of ``taus``: the fraction of workloads
    whose ratio is at most ``tau``."""
    optimizers = list(dict.fromkeys(o for by_optimizer in ratios.values() for o in by_optimizer))
    count = len(ratios)
    return {o: [sum(r.get(o, math.inf) <= tau for r in ratios.values()) / count for tau in taus]
            for o in optimizers}


def tau_grid(ratios: Mapping[str, Mapping[str, float]], points: int = 200) -> list[float]:
    """``tau`` from 1 to a little past the largest finite ratio, log-spaced (at least up to 4), with every
    finite ratio included so that each step of the profile is drawn exactly."""
    finite = sorted({r for by_optimizer in ratios.values() for r in by_optimizer.values() if math.isfinite(r)})
    top = max([4.0, *finite]) * 1.1
    grid = [math.exp(math.log(top) * i / (points - 1)) for i in range(points)]
    return sorted({*grid, *finite, *TAUS_REPORTED})
