"""Learning-rate decay: pure functions of the step count t, composed with `warmup` and `join`.

Every constructor returns a :class:`Schedule`, a callable ``t -> lr`` for t = 0, 1, 2, ... that also carries
``base_lr`` (the rate the schedule is scaled from) and ``spec`` (its compact spelling, so that
``parse(s.spec, s.base_lr)`` rebuilds it). :class:`LRSchedule` is the thin adapter that writes
``schedule(t)`` into a torch optimizer's param groups; since the lr is a pure function of t, resuming from a
``state_dict`` is exact by construction. The unit of t (optimizer steps or epochs) is the caller's choice.

The lecture's decays (CS231n lecture 7): step decay, exponential ``a = a0 exp(-k t)``,
1/t ``a = a0 / (1 + k t)``, plus cosine annealing and warm restarts (Loshchilov & Hutter, "SGDR: Stochastic
Gradient Descent with Warm Restarts", 2017), the cyclic schedule snapshot ensembles use (Huang et al.,
"Snapshot Ensembles: Train 1, Get M for Free", 2017).
"""

from __future__ import annotations

import math
import numbers
import operator
from bisect import bisect_right
from collections.abc import Callable, Sequence

from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "Schedule", "constant", "step_decay", "multistep_decay", "exponential_decay", "inverse_time_decay",
    "cosine_decay", "cosine_restarts", "cycle_ends", "warmup", "join", "LRSchedule", "parse", "SPEC_HELP",
]


class Schedule:
    """A learning-rate schedule: a pure function ``t -> lr`` with its base rate and compact spelling."""

    __slots__ = ("_fn", "base_lr", "spec")

    def __init__(self, fn: Callable[[int], float], base_lr: float | None, spec: str | None) -> None:
        self._fn, self.base_lr, self.spec = fn, base_lr, spec

    def __call__(self, t: int) -> float:
        try:
            t = operator.index(t)
        except TypeError:
            raise ValueError(f"step t must be an integer >= 0, got {t!r}") from None
        if t < 0:
            raise ValueError(f"step t must be an integer >= 0, got {t}")
        return float(self._fn(t))

    def __repr__(self) -> str:
        return f"Schedule({self.spec or 'joined'}, base_lr={self.base_lr!r})"


# ---- validation: each message names the argument and the value -----------------------------------------

def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive(name: str, value: float) -> float:
    if not (_is_real(value) and 0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def _nonneg(name: str, value: float) -> float:
    if not (_is_real(value) and 0 <= value < math.inf):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _factor(value: float) -> float:
    if not (_is_real(value) and 0 < value <= 1):
        raise ValueError(f"factor must be in (0, 1], got {value!r}")
    return float(value)


def _final(final_lr: float, lr: float) -> float:
    if not (_is_real(final_lr) and 0 <= final_lr <= lr):
        raise ValueError(f"final_lr must be in [0, lr={lr!r}], got {final_lr!r}")
    return float(final_lr)


def _mult(value: float) -> float:
    if not (_is_real(value) and 1 <= value < math.inf):
        raise ValueError(f"mult must be a finite number >= 1, got {value!r}")
    return float(value)


# ---- the closed forms --------------------------------------------------------------------------------------

def constant(lr: float) -> Schedule:
    """``lr(t) = lr``."""
    lr = _positive("lr", lr)
    return Schedule(lambda t: lr, lr, "constant")


def step_decay(lr: float, every: int, factor: float) -> Schedule:
    """Step decay: ``lr(t) = lr * factor ** floor(t / every)``. Same as ``torch.optim.lr_scheduler.StepLR(
    step_size=every, gamma=factor)`` and Keras ``ExponentialDecay(..., staircase=True)``."""
    lr, every, factor = _positive("lr", lr), _count("every", every), _factor(factor)
    return Schedule(lambda t: lr * factor ** (t // every), lr, f"step:every={every},factor={factor!r}")


def multistep_decay(lr: float, milestones: Sequence[int], factor: float) -> Schedule:
    """``lr(t) = lr * factor ** #{m in milestones : m <= t}``, milestones strictly increasing positive
    integers. Same as ``torch.optim.lr_scheduler.MultiStepLR(milestones, gamma=factor)``."""
    lr, factor = _positive("lr", lr), _factor(factor)
    ms = [_count("milestones", m) for m in milestones]
    if not ms or any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
        raise ValueError(f"milestones must be a non-empty strictly increasing list, got {list(milestones)!r}")
    spelled = "/".join(map(str, ms))
    return Schedule(lambda t: lr * factor ** bisect_right(ms, t), lr,
                    f"multistep:milestones={spelled},factor={factor!r}")


def exponential_decay(lr: float, k: float) -> Schedule:
    """Exponential decay (the lecture's ``a = a0 exp(-k t)``): ``lr(t) = lr * exp(-k t)``, k >= 0. Same as
    ``torch.optim.lr_scheduler.ExponentialLR(gamma=exp(-k))``."""
    lr, k = _positive("lr", lr), _nonneg("k", k)
    return Schedule(lambda t: lr * math.exp(-k * t), lr, f"exp:k={k!r}")


def inverse_time_decay(lr: float, k: float, decay_steps: int = 1, staircase: bool = False) -> Schedule:
    """1/t decay (the lecture's ``a = a0 / (1 + k t)``): ``lr(t) = lr / (1 + k * s(t / decay_steps))`` where
    s is floor if ``staircase`` else the identity. With Keras's names, k is ``decay_rate``: this equals
    ``keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps, decay_rate=k, staircase)``."""
    lr, k, decay_steps = _positive("lr", lr), _nonneg("k", k), _count("decay_steps", decay_steps)
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
    ``cosine_decay_schedule``."""
    lr, total = _positive("lr", lr), _count("total_steps", total_steps)
    final = _final(final_lr, lr)
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
    See :func:`cycle_ends` for where the cycles end."""
    lr, period = _positive("lr", lr), _positive("period", period)
    final, mult = _final(final_lr, lr), _mult(mult)

    def fn(t: int) -> float:
        i = _locate_cycle(period, mult, t)
        return _half_cosine(lr, final, t - _cycle_start(period, mult, i), period * mult**i)

    return Schedule(fn, lr, f"restarts:period={period!r},mult={mult!r},final={final!r}")


def cycle_ends(period: float, mult: float, total: int) -> list[int]:
    """The last step t of every warm-restart cycle that is complete within steps 0..total-1.

    Step ``t = cycle_ends(...)[i]`` is the last one that uses cycle i's lowest rates; a snapshot ensemble
    takes snapshot i once ``t + 1`` optimizer steps (or epochs) are done.
    Example: ``cycle_ends(10, 2, 70) == [9, 29, 69]``.
    """
    period, total, mult = _positive("period", period), _count("total", total), _mult(mult)
    ends, i = [], 1
    while (end := math.ceil(_cycle_start(period, mult, i)) - 1) < total:
        ends.append(end)
        i += 1
    return ends


# ---- composition -------------------------------------------------------------------------------------------

def join(schedules: Sequence[Callable[[int], float]], boundaries: Sequence[int]) -> Schedule:
    """Run ``schedules`` one after another: from ``boundaries[i-1]`` on, ``schedules[i]`` is called with
    ``t - boundaries[i-1]`` (like ``optax.join_schedules``). ``base_lr`` is the largest base rate."""
    schedules, bounds = list(schedules), [_count("boundaries", b) for b in boundaries]
    if len(bounds) != len(schedules) - 1:
        raise ValueError(f"join needs len(boundaries) == len(schedules) - 1, got {len(bounds)} boundaries "
                         f"for {len(schedules)} schedules")
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError(f"boundaries must be strictly increasing, got {bounds!r}")
    starts = [0, *bounds]

    def fn(t: int) -> float:
        i = bisect_right(bounds, t)
        return schedules[i](t - starts[i])

    bases = [getattr(s, "base_lr", None) for s in schedules]
    return Schedule(fn, None if None in bases else max(bases), None)


def warmup(schedule: Callable[[int], float], steps: int) -> Schedule:
    """Linear warmup: ``lr(t) = schedule(0) * t / steps`` for t < steps, then ``schedule(t - steps)``."""
    steps = _count("steps", steps)
    peak = schedule(0)
    ramp = Schedule(lambda t: peak * t / steps, getattr(schedule, "base_lr", peak), None)
    joined = join([ramp, schedule], [steps])
    inner = getattr(schedule, "spec", None)
    joined.spec = f"warmup={steps}+{inner}" if inner and not inner.startswith("warmup") else None
    return joined


# ---- the adapter for torch.optim ---------------------------------------------------------------------------

class LRSchedule(LRScheduler):
    """Set every param group's lr from a schedule: ``lr_group(t) = initial_lr_group * schedule(t) / base_lr``.

    ``base_lr`` defaults to ``schedule.base_lr``, so a one-group optimizer follows ``schedule(t)`` exactly
    and other groups keep their ratio to it. t is ``last_epoch``: the number of ``step()`` calls so far.
    ``state_dict`` holds only counters and rates (no callable; loads with ``torch.load(weights_only=True)``);
    ``load_state_dict`` rewrites the groups' lr from ``schedule(t)``, so a resumed run continues with the
    identical sequence whichever of optimizer and scheduler is restored first.
    """

    def __init__(self, optimizer, schedule: Callable[[int], float], base_lr: float | None = None,
                 last_epoch: int = -1) -> None:
        base_lr = getattr(schedule, "base_lr", None) if base_lr is None else base_lr
        if base_lr is None:
            raise ValueError("base_lr is needed for a schedule without a base_lr attribute, got None")
        self.schedule, self.schedule_base_lr = schedule, _positive("base_lr", base_lr)
        self.schedule_spec = getattr(schedule, "spec", None)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        scale = self.schedule(self.last_epoch) / self.schedule_base_lr
        return [base * scale for base in self.base_lrs]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}

    def load_state_dict(self, state_dict: dict) -> None:
        saved, ours = state_dict.get("schedule_spec"), self.schedule_spec
        if saved is not None and ours is not None and saved != ours:
            raise ValueError(f"scheduler state was saved for schedule {saved!r}, not {ours!r} (a schedule "
                             f"spanning the whole run changes when the run's length does)")
        self.__dict__.update({k: v for k, v in state_dict.items() if k != "schedule_spec"})
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


# ---- the compact spelling of `descent train --schedule` ----------------------------------------------------

SPEC_HELP = """\
learning-rate schedule, NAME[:KEY=VALUE,...], optionally after 'warmup=N+':
  constant                              lr(t) = lr
  step:every=10,factor=0.5              lr * factor^floor(t/every)
  multistep:milestones=10/20,factor=0.1 lr * factor^(number of milestones <= t)
  exp:k=0.05                            lr * exp(-k t)
  invtime:k=0.1[,decay_steps=1,staircase=false]  lr / (1 + k t/decay_steps), floor(t/decay_steps) if staircase
  cosine[:final=0,total=T]              cosine from lr to final over T steps (default: the run's total)
  restarts:period=10[,mult=1,final=0]   SGDR warm restarts, cycle i lasts period*mult^i steps
  restarts:cycles=5[,mult=1,final=0]    the same, period chosen so 5 cycles fill the run
  warmup=5+cosine                       linear warmup over 5 steps, then the schedule on the remaining steps
t counts scheduler steps (optimizer steps or epochs, see --schedule-per)."""


def _parse_int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {text!r}") from None


def _parse_float(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, got {text!r}") from None


def _parse_bool(key: str, text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{key} must be true or false, got {text!r}")
    return text.lower() in ("true", "1", "yes")


def _parse_ints(key: str, text: str) -> list[int]:
    return [_parse_int(key, part) for part in text.split("/")]


def _restarts(lr: float, total: int | None, kw: dict) -> Schedule:
    mult = kw.get("mult", 1.0)
    if ("period" in kw) == ("cycles" in kw):
        raise ValueError("restarts needs exactly one of period=... or cycles=...")
    period = kw.get("period")
    if period is None:
        cycles, total = _count("cycles", kw["cycles"]), _count("total_steps", total)
        period = total * (mult - 1) / (mult**cycles - 1) if mult > 1 else total / cycles
        if period < 1:
            raise ValueError(f"restarts:cycles={cycles},mult={mult!r} over total_steps={total} makes the "
                             f"first cycle {period:.3g} steps long (< 1)")
    return cosine_restarts(lr, period, mult, kw.get("final", 0.0))


def _cosine(lr: float, total: int | None, kw: dict) -> Schedule:
    if "total" not in kw and total is None:
        raise ValueError("cosine needs total=... or the run's total_steps, got neither")
    return cosine_decay(lr, kw.get("total", total), kw.get("final", 0.0))


# name -> (keys and their parsers, required keys, builder(lr, total_steps, keywords))
_SPELLINGS: dict[str, tuple[dict, tuple, Callable[[float, int | None, dict], Schedule]]] = {
    "constant": ({}, (), lambda lr, total, kw: constant(lr)),
    "step": ({"every": _parse_int, "factor": _parse_float}, ("every", "factor"),
             lambda lr, total, kw: step_decay(lr, kw["every"], kw["factor"])),
    "multistep": ({"milestones": _parse_ints, "factor": _parse_float}, ("milestones", "factor"),
                  lambda lr, total, kw: multistep_decay(lr, kw["milestones"], kw["factor"])),
    "exp": ({"k": _parse_float}, ("k",), lambda lr, total, kw: exponential_decay(lr, kw["k"])),
    "invtime": ({"k": _parse_float, "decay_steps": _parse_int, "staircase": _parse_bool}, ("k",),
                lambda lr, total, kw: inverse_time_decay(lr, **kw)),
    "cosine": ({"total": _parse_int, "final": _parse_float}, (), _cosine),
    "restarts": ({"period": _parse_float, "cycles": _parse_int, "mult": _parse_float, "final": _parse_float},
                 (), _restarts),
}


def _parse_one(spec: str, lr: float, total_steps: int | None) -> Schedule:
    name, _, rest = spec.partition(":")
    if name not in _SPELLINGS:
        known = ", ".join(_SPELLINGS)
        raise ValueError(f"unknown schedule {name!r} in {spec!r} (known: {known}, warmup=N+...)")
    keys, required, build = _SPELLINGS[name]
    kw = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if key not in keys:
            known = ", ".join(keys) or "none"
            raise ValueError(f"unknown key {key!r} for schedule {name!r} (known keys: {known})")
        if not eq or not value:
            raise ValueError(f"key {key!r} of schedule {name!r} needs a value, like {key}=...")
        kw[key] = keys[key](key, value)
    missing = [key for key in required if key not in kw]
    if missing:
        raise ValueError(f"schedule {name!r} needs {', '.join(k + '=...' for k in missing)}; got {spec!r}")
    return build(lr, total_steps, kw)


def parse(spec: str, lr: float, total_steps: int | None = None) -> Schedule:
    """Build a schedule from its compact spelling (see ``SPEC_HELP``), e.g. ``parse("warmup=5+cosine", 0.1,
    100)`` is ``warmup(cosine_decay(0.1, 95), 5)``. ``total_steps`` (the run's length in scheduler steps) is
    the default total of ``cosine`` and ``restarts:cycles``. ``parse(s.spec, s.base_lr)`` rebuilds ``s``.
    Raises ValueError naming the bad name, key or value."""
    if total_steps is not None:
        _count("total_steps", total_steps)
    text = "".join(str(spec).split()).lower()
    if not text.startswith("warmup="):
        return _parse_one(text, lr, total_steps)
    head, _, rest = text.partition("+")
    steps = _count("warmup", _parse_int("warmup", head[len("warmup="):]))
    remaining = None if total_steps is None else total_steps - steps
    if remaining is not None and remaining <= 0:
        raise ValueError(f"warmup={steps} leaves no steps of total_steps={total_steps}")
    return warmup(_parse_one(rest or "constant", lr, remaining), steps)
