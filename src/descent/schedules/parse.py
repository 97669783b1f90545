"""The compact spelling of `descent train --schedule`: ``NAME[:KEY=VALUE,...]``, optionally after ``warmup=N+``.

Reading a spelling takes two steps. :func:`parse_spec` checks the text alone (names, keys and every value
whose validity does not depend on the run) and returns a :class:`ScheduleSpec`; ``ScheduleSpec.build(lr,
total_steps)`` makes the :class:`Schedule` once the run's rate and length are known, and raises the errors
that depend on them (``cosine`` with no total, a warmup as long as the run, ``final`` above ``lr``). A
training job can so reject a bad spelling before loading any data and still read it only once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import checks
from .functions import (
    Schedule,
    constant,
    cosine_decay,
    cosine_restarts,
    exponential_decay,
    factor_in_unit_interval,
    final_below,
    increasing_steps,
    inverse_time_decay,
    multistep_decay,
    step_decay,
    warmup,
)

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


# ---- reading one value: text -> number, checked with the same function the constructor uses -------------

def _integer(check: Callable[[str, Any], Any]) -> Callable[[str, str], int]:
    return lambda key, text: check(key, checks.parse_number(key, text, int))


def _real(check: Callable[[str, Any], Any]) -> Callable[[str, str], float]:
    return lambda key, text: check(key, checks.parse_number(key, text))


def _steps(key: str, text: str) -> tuple[int, ...]:
    """``10/20/30`` -> (10, 20, 30), strictly increasing positive integers."""
    return tuple(increasing_steps(key, [checks.parse_number(key, part, int) for part in text.split("/")]))


_positive_int, _positive = _integer(checks.positive_int), _real(checks.positive)
_nonnegative, _factor = _real(checks.nonnegative), _real(factor_in_unit_interval)
_at_least_one = _real(lambda key, value: checks.at_least(key, value, 1))


# ---- building: (lr, the steps this schedule spans or None, its keywords) -> Schedule ---------------------

def _cosine(lr: float, total: int | None, kw: dict) -> Schedule:
    if "total" not in kw and total is None:
        raise checks.invalid("total_steps", total, "a positive integer for 'cosine' without total=...")
    final = final_below("final", kw.get("final", 0.0), checks.positive("lr", lr))
    return cosine_decay(lr, kw.get("total", total), final)


def _restarts(lr: float, total: int | None, kw: dict) -> Schedule:
    mult, period = kw.get("mult", 1.0), kw.get("period")
    final = final_below("final", kw.get("final", 0.0), checks.positive("lr", lr))
    if period is None:
        cycles, total = kw["cycles"], checks.positive_int("total_steps", total)
        period = total * (mult - 1) / (mult**cycles - 1) if mult > 1 else total / cycles
        if period < 1:
            raise checks.invalid("cycles", cycles, f"few enough that the first cycle lasts at least one step "
                                                   f"(mult={mult!r} over total_steps={total} gives {period:.3g})")
    return cosine_restarts(lr, period, mult, final)


def _one_of_period_or_cycles(kw: dict) -> None:
    if ("period" in kw) == ("cycles" in kw):
        raise ValueError("restarts needs exactly one of period=... or cycles=...")


# name -> (keys and their readers, required keys, check of the keys together, builder)
_SPELLINGS: dict[str, tuple[dict[str, Callable], tuple[str, ...], Callable[[dict], None] | None,
                            Callable[[float, int | None, dict], Schedule]]] = {
    "constant": ({}, (), None, lambda lr, total, kw: constant(lr)),
    "step": ({"every": _positive_int, "factor": _factor}, ("every", "factor"), None,
             lambda lr, total, kw: step_decay(lr, kw["every"], kw["factor"])),
    "multistep": ({"milestones": _steps, "factor": _factor}, ("milestones", "factor"), None,
                  lambda lr, total, kw: multistep_decay(lr, kw["milestones"], kw["factor"])),
    "exp": ({"k": _nonnegative}, ("k",), None, lambda lr, total, kw: exponential_decay(lr, kw["k"])),
    "invtime": ({"k": _nonnegative, "decay_steps": _positive_int, "staircase": checks.parse_bool}, ("k",), None,
                lambda lr, total, kw: inverse_time_decay(lr, **kw)),
    # final <= lr is checked by the builder, once lr is known
    "cosine": ({"total": _positive_int, "final": _nonnegative}, (), None, _cosine),
    "restarts": ({"period": _positive, "cycles": _positive_int, "mult": _at_least_one, "final": _nonnegative},
                 (), _one_of_period_or_cycles, _restarts),
}


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule spelling that has been read and checked, waiting for the run's ``lr`` and length.

    ``text`` is the spelling normalized (no blanks, lower case); ``warmup`` the warmup steps (0: none);
    ``name`` the schedule after the warmup; ``keywords`` its keys and their values, read and checked, in the
    order written (``milestones`` as a tuple).

    >>> spec = parse_spec(" Warmup=5 + Cosine:final=0.001 ")
    >>> spec.text, spec.warmup, spec.name, spec.keywords
    ('warmup=5+cosine:final=0.001', 5, 'cosine', (('final', 0.001),))
    >>> s = spec.build(0.1, total_steps=105)      # warmup over 5 steps, then cosine over 100
    >>> [round(s(t), 6) for t in (0, 5, 55, 105)]
    [0.0, 0.1, 0.0505, 0.001]
    >>> parse_spec("cosine").build(0.1)
    Traceback (most recent call last):
    ...
    ValueError: invalid total_steps=None: must be a positive integer for 'cosine' without total=...
    """

    text: str
    warmup: int
    name: str
    keywords: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return self.text

    def build(self, lr: float, total_steps: int | None = None) -> Schedule:
        """The schedule at base rate ``lr`` over a run of ``total_steps`` scheduler steps (the default total
        of ``cosine`` and ``restarts:cycles``; with ``warmup=N+``, the schedule after it spans
        ``total_steps - N``). Raises ValueError for what depends on ``lr`` and ``total_steps``."""
        if total_steps is not None:
            total_steps = checks.positive_int("total_steps", total_steps)
        build = _SPELLINGS[self.name][3]
        if not self.warmup:
            return build(lr, total_steps, dict(self.keywords))
        remaining = None if total_steps is None else total_steps - self.warmup
        if remaining is not None and remaining <= 0:
            raise checks.invalid("warmup", self.warmup, f"less than total_steps={total_steps}")
        return warmup(build(lr, remaining, dict(self.keywords)), self.warmup)


def _read_one(text: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """``NAME[:KEY=VALUE,...]`` -> (name, ((key, value), ...)), each value read and checked."""
    name, _, rest = text.partition(":")
    if name not in _SPELLINGS:
        known = ", ".join(_SPELLINGS)
        raise ValueError(f"unknown schedule {name!r} in {text!r} (known: {known}, warmup=N+...)")
    keys, required, together, _ = _SPELLINGS[name]
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
        raise ValueError(f"schedule {name!r} needs {', '.join(k + '=...' for k in missing)}; got {text!r}")
    if together is not None:
        together(kw)
    return name, tuple(kw.items())


def parse_spec(spec: str) -> ScheduleSpec:
    """Read and check a spelling (see ``SPEC_HELP``) without a run: every unknown name or key, missing key
    and bad value raises ValueError here, with the message :func:`parse` gives; what needs ``lr`` or the
    run's length is left to :meth:`ScheduleSpec.build`.

    >>> spec = parse_spec("step:every=10,factor=0.5")
    >>> spec.name, dict(spec.keywords)
    ('step', {'every': 10, 'factor': 0.5})
    >>> [round(spec.build(0.1)(t), 6) for t in (0, 10, 20)]
    [0.1, 0.05, 0.025]
    >>> parse_spec("step:every=10,factor=2")
    Traceback (most recent call last):
    ...
    ValueError: invalid factor=2.0: must be in (0, 1]
    """
    text = "".join(str(spec).split()).lower()
    if not text.startswith("warmup="):
        return ScheduleSpec(text, 0, *_read_one(text))
    head, _, rest = text.partition("+")
    steps = checks.positive_int("warmup", checks.parse_number("warmup", head[len("warmup="):], int))
    return ScheduleSpec(text, steps, *_read_one(rest or "constant"))


def parse(spec: str, lr: float, total_steps: int | None = None) -> Schedule:
    """Build a schedule from its compact spelling (see ``SPEC_HELP``): ``parse_spec(spec).build(lr,
    total_steps)``. ``total_steps`` (the run's length in scheduler steps) is the default total of ``cosine``
    and ``restarts:cycles``. ``parse(s.spec, s.base_lr)`` rebuilds ``s``. Raises ValueError naming the bad
    name, key or value.

    >>> s = parse("warmup=5+cosine", 0.1, total_steps=105)   # warmup(cosine_decay(0.1, 100), 5)
    >>> [round(s(t), 6) for t in (0, 1, 5, 55, 105)]
    [0.0, 0.02, 0.1, 0.05, 0.0]
    >>> s.spec
    'warmup=5+cosine:total=100,final=0.0'
    >>> parse(s.spec, s.base_lr)(55) == s(55)
    True
    """
    return parse_spec(spec).build(lr, total_steps)
