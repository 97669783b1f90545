"""The schedules themselves: pure functions ``t -> lr`` in closed form, composed with `warmup` and `join`.

Each constructor checks its arguments (:mod:`descent.checks`, one wording: ``invalid NAME=VALUE: must be
...``) and returns a :class:`Schedule`. Nothing here knows about torch; :mod:`.adapter` does that.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Callable, Sequence

from .. import checks


class Schedule:
    """A learning-rate schedule: a pure function ``t -> lr`` with its base rate and compact spelling.

    ``base_lr`` is the rate the schedule is scaled from; ``spec`` spells it so that ``parse(s.spec,
    s.base_lr)`` rebuilds it (``None`` for a :func:`join` of arbitrary callables).

    >>> s = constant(0.1)
    >>> s(0), s.base_lr, s.spec
    (0.1, 0.1, 'constant')
    >>> s(-1)
    Traceback (most recent call last):
    ...
    ValueError: invalid t=-1: must be a non-negative integer
    """

    __slots__ = ("_fn", "base_lr", "spec")

    def __init__(self, fn: Callable[[int], float], base_lr: float | None, spec: str | None) -> None:
        self._fn, self.base_lr, self.spec = fn, base_lr, spec

    def __call__(self, t: int) -> float:
        try:
            t = operator.index(t)   # any integer type (numpy, a 0-d tensor), never a float
        except TypeError:
            raise checks.invalid("t", t, "a non-negative integer") from None
        return float(self._fn(checks.nonnegative_int("t", t)))

    def __repr__(self) -> str:
        return f"Schedule({self.spec or 'joined'}, base_lr={self.base_lr!r})"


# ---- the checks shared by several schedules ------------------------------------------------------------

def factor_in_unit_interval(name: str, value: float) -> float:
    """A decay factor: ``0 < factor <= 1`` (1 means no decay)."""
    return checks.in_unit_interval(name, value, closed=True, open_low=True)


def final_below(name: str, final_lr: float, lr: float) -> float:
    """The rate a schedule anneals to: ``0 <= final_lr <= lr``."""
    return checks.at_most(name, checks.nonnegative(name, final_lr), lr, f"lr={lr!r}")


def increasing_steps(name: str, steps: Sequence[int]) -> list[int]:
    """A non-empty, strictly increasing list of positive integer steps (milestones, boundaries)."""
    steps = list(steps)
    if not (steps and all(checks.is_integer(s) and s > 0 for s in steps)
            and all(a < b for a, b in zip(steps, steps[1:]))):
        raise checks.invalid(name, steps, "a non-empty strictly increasing list of positive integers")
    return [int(s) for s in steps]


# ---- the closed forms --------------------------------------------------------------------------------------

def constant(lr: float) -> Schedule:
    """``lr(t) = lr``.

    >>> s = constant(0.1)
    >>> [s(t) for t in (0, 10, 10**6)]
    [0.1, 0.1, 0.1]
    """
    lr = checks.positive("lr", lr)
    return Schedule(lambda t: lr, lr, "constant")


def step_decay(lr: float, every: int, factor: float) -> Schedule:
    """Step decay: ``lr(t) = lr * factor ** floor(t / every)``. Same as ``torch.optim.lr_scheduler.StepLR(
    step_size=every, gamma=factor)`` and Keras ``ExponentialDecay(..., staircase=True)``.

    >>> s = step_decay(0.1, every=10, factor=0.5)
    >>> [round(s(t), 6) for t in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.025]
    >>> s.spec
    'step:every=10,factor=0.5'
    """
    lr, every = checks.positive("lr", lr), checks.positive_int("every", every)
    factor = factor_in_unit_interval("factor", factor)
    return Schedule(lambda t: lr * factor ** (t // every), lr, f"step:every={every},factor={factor!r}")


def multistep_decay(lr: float, milestones: Sequence[int], factor: float) -> Schedule:
    """``lr(t) = lr * factor ** #{m in milestones : m <= t}``, milestones strictly increasing positive
    integers. Same as ``torch.optim.lr_scheduler.MultiStepLR(milestones, gamma=factor)``.

    >>> s = multistep_decay(0.1, [10, 20], factor=0.1)
    >>> [round(s(t), 6) for t in (0, 9, 10, 20, 500)]
    [0.1, 0.1, 0.01, 0.001, 0.001]
    """
    lr, factor = checks.positive("lr", lr), factor_in_unit_interval("factor", factor)
    ms = increasing_steps("milestones", milestones)
    spelled = "/".join(map(str, ms))
    return Schedule(lambda t: lr * factor ** bisect_right(ms, t), lr,
                    f"multistep:milestones={spelled},factor={factor!r}")


def exponential_decay(lr: float, k: float) -> Schedule:
    """Exponential decay (the lecture's ``a = a0 exp(-k t)``): ``lr(t) = lr * exp(-k t)``, k >= 0. Same as
    ``torch.optim.lr_scheduler.ExponentialLR(gamma=exp(-k))``.

    >>> s = exponential_decay(0.1, k=0.05)
    >>> [round(s(t), 6) for t in (0, 1, 20)]     # at t = 1/k the rate is lr / e
    [0.1, 0.095123, 0.036788]
    """
    lr, k = checks.positive("lr", lr), checks.nonnegative("k", k)
    return Schedule(lambda t: lr * math.exp(-k * t), lr, f"exp:k={k!r}")


def inverse_time_decay(lr: float, k: float, decay_steps: int = 1, staircase: bool = False) -> Schedule:
    """1/t decay (the lecture's ``a = a0 / (1 + k t)``): ``lr(t) = lr / (1 + k * s(t / decay_steps))`` where
    s is floor if ``staircase`` else the identity. With Keras's names, k is ``decay_rate``: this equals
    ``keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps, decay_rate=k, staircase)``.

    >>> s = inverse_time_decay(0.1, k=0.1)
    >>> [round(s(t), 6) for t in (0, 10, 90)]
    [0.1, 0.05, 0.01]
    >>> s = inverse_time_decay(0.1, k=1.0, decay_steps=10, staircase=True)
    >>> [round(s(t), 6) for t in (0, 9, 10, 25)]
    [0.1, 0.1, 0.05, 0.033333]
    """
    lr, k = checks.positive("lr", lr), checks.nonnegative("k", k)
    decay_steps, staircase = checks.positive_int("decay_steps", decay_steps), checks.boolean("staircase", staircase)
    if staircase:
        fn = lambda t: lr / (1 + k * (t // decay_steps))  # noqa: E731
    else:
        fn = lambda t: lr / (1 + k * t / decay_steps)  # noqa: E731
    spec = f"invtime:k={k!r}" + (f",decay_steps={decay_steps}" if decay_steps != 1 else "")
    return Schedule(fn, lr, spec + (",staircase=true" if staircase else ""))


def _half_cosine(lr: float, final_lr: float, position: float, length: float) -> float:
    """The annealing curve of SGDR: ``final + (lr - final) * (1 + cos(pi * position / length)) / 2``."""
    return final_lr + (lr - final_lr) * (1 + math.cos(math.pi * position / length)) / 2


def cosine_decay(lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """Cosine annealing: ``lr(t) = final + (lr - final) (1 + cos(pi t / total_steps)) / 2`` for
    t <= total_steps, then ``final_lr``. Same as ``torch.optim.lr_scheduler.CosineAnnealingLR(
    T_max=total_steps, eta_min=final_lr)`` up to T_max (torch's keeps oscillating after it) and Optax
    ``cosine_decay_schedule``.

    >>> s = cosine_decay(0.1, total_steps=100, final_lr=0.001)
    >>> [round(s(t), 6) for t in (0, 25, 50, 100, 250)]
    [0.1, 0.085502, 0.0505, 0.001, 0.001]
    """
    lr, total = checks.positive("lr", lr), checks.positive_int("total_steps", total_steps)
    final = final_below("final_lr", final_lr, lr)
    return Schedule(lambda t: _half_cosine(lr, final, min(t, total), total), lr,
                    f"cosine:total={total},final={final!r}")


def _snap(x: float) -> float:
    """A cycle boundary within rounding error of an integer step is that step (so 3 cycles fill 100 steps)."""
    r = round(x)
    return float(r) if abs(x - r) <= 1e-9 * max(1.0, x) else x


def _cycle_start(period: float, mult: float, i: int) -> float:
    """Step at which cycle i starts: ``period * (1 + mult + ... + mult**(i-1))``."""
    return _snap(period * i if mult == 1 else period * (mult**i - 1) / (mult - 1))


def _locate_cycle(period: float, mult: float, t: int) -> int:
    """Index i of the cycle holding step t, from the closed form, corrected for rounding."""
    i = int(t // period) if mult == 1 else int(math.log1p(t * (mult - 1) / period) / math.log(mult))
    while i > 0 and _cycle_start(period, mult, i) > t:
        i -= 1
    while _cycle_start(period, mult, i + 1) <= t:
        i += 1
    return i


def _locate_cycle_loop(period: float, mult: float, t: int) -> int:
    """Slow reference for `_locate_cycle`: walk the cycles one by one."""
    i, start, length = 0, 0.0, period
    while _snap(start + length) <= t:
        i, start, length = i + 1, start + length, length * mult
    return i


def cosine_restarts(lr: float, period: float, mult: float = 1.0, final_lr: float = 0.0) -> Schedule:
    """SGDR warm restarts: cycle i lasts ``T_i = period * mult**i`` steps; within it
    ``lr(t) = final + (lr - final) (1 + cos(pi T_cur / T_i)) / 2`` with T_cur the steps since the cycle began.
    Same as ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=period, T_mult=mult,
    eta_min=final_lr)`` (torch needs integer T_0 and T_mult; here any period > 0 and mult >= 1).
    See :func:`cycle_ends` for where the cycles end.

    >>> s = cosine_restarts(0.1, period=10, mult=2)   # cycles [0, 10), [10, 30), [30, 70), ...
    >>> [round(s(t), 6) for t in (0, 5, 9, 10, 20, 30)]
    [0.1, 0.05, 0.002447, 0.1, 0.05, 0.1]
    """
    lr, period = checks.positive("lr", lr), checks.positive("period", period)
    final, mult = final_below("final_lr", final_lr, lr), checks.at_least("mult", mult, 1)

    def fn(t: int) -> float:
        i = _locate_cycle(period, mult, t)
        return _half_cosine(lr, final, t - _cycle_start(period, mult, i), period * mult**i)

    return Schedule(fn, lr, f"restarts:period={period!r},mult={mult!r},final={final!r}")


def cycle_ends(period: float, mult: float, total: int) -> list[int]:
    """The last step t of every warm-restart cycle that is complete within steps 0..total-1.

    Step ``t = cycle_ends(...)[i]`` is the last one that uses cycle i's lowest rates; a snapshot ensemble
    takes snapshot i once ``t + 1`` optimizer steps (or epochs) are done.

    >>> cycle_ends(10, 2, 70)      # cycles of 10, 20 and 40 steps
    [9, 29, 69]
    >>> cycle_ends(10, 2, 69)      # the third cycle is not complete
    [9, 29]
    >>> cycle_ends(10, 1.5, 100)   # boundaries 10, 25, 47.5, 81.25
    [9, 24, 47, 81]
    """
    period, total = checks.positive("period", period), checks.positive_int("total", total)
    mult = checks.at_least("mult", mult, 1)
    ends, i = [], 1
    while (end := math.ceil(_cycle_start(period, mult, i)) - 1) < total:
        ends.append(end)
        i += 1
    return ends


# ---- composition -------------------------------------------------------------------------------------------

def join(schedules: Sequence[Callable[[int], float]], boundaries: Sequence[int]) -> Schedule:
    """Run ``schedules`` one after another: from ``boundaries[i-1]`` on, ``schedules[i]`` is called with
    ``t - boundaries[i-1]`` (like ``optax.join_schedules``). ``base_lr`` is the largest base rate.

    >>> s = join([constant(0.3), step_decay(0.2, every=2, factor=0.5)], boundaries=[5])
    >>> [round(s(t), 6) for t in (0, 4, 5, 7, 9)]
    [0.3, 0.3, 0.2, 0.1, 0.05]
    >>> s.base_lr
    0.3
    """
    schedules, bounds = list(schedules), list(boundaries)
    if len(bounds) != len(schedules) - 1:
        raise checks.invalid("boundaries", bounds, f"one step between each pair of schedules "
                                                   f"({len(schedules) - 1} for {len(schedules)} schedules)")
    if bounds:
        bounds = increasing_steps("boundaries", bounds)
    starts = [0, *bounds]

    def fn(t: int) -> float:
        i = bisect_right(bounds, t)
        return schedules[i](t - starts[i])

    bases = [getattr(s, "base_lr", None) for s in schedules]
    return Schedule(fn, None if None in bases else max(bases), None)


def warmup(schedule: Callable[[int], float], steps: int) -> Schedule:
    """Linear warmup: ``lr(t) = schedule(0) * t / steps`` for t < steps, then ``schedule(t - steps)``.

    >>> s = warmup(cosine_decay(0.1, total_steps=20), steps=4)
    >>> [round(s(t), 6) for t in (0, 1, 2, 4, 14, 24)]
    [0.0, 0.025, 0.05, 0.1, 0.05, 0.0]
    >>> s.spec
    'warmup=4+cosine:total=20,final=0.0'
    """
    steps = checks.positive_int("steps", steps)
    peak = schedule(0)
    ramp = Schedule(lambda t: peak * t / steps, getattr(schedule, "base_lr", peak), None)
    joined = join([ramp, schedule], [steps])
    inner = getattr(schedule, "spec", None)
    joined.spec = f"warmup={steps}+{inner}" if inner and not inner.startswith("warmup") else None
    return joined
