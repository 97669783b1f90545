"""Search spaces: ``name=low:high[:log]`` ranges and ``name=a|b|c`` choices, their grids, and the
coarse-to-fine narrowing around the best trials.

A search space is written ``name=low:high[:log]`` (a float or, for integer fields, an int range) or
``name=a|b|c`` (a choice), joined by commas: ``lr=1e-4:1e-1:log,momentum=0.8:0.99``.

>>> space = parse_space("lr=1e-4:1e-1:log,optimizer=sgd|adam", known={"lr": float, "optimizer": str})
>>> [f"{lr:.0e}" for lr in space["lr"].grid(4)]
['1e-04', '1e-03', '1e-02', '1e-01']
>>> space["optimizer"].choices
('sgd', 'adam')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import DescentError


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: a range ``[low, high]`` (log scale if ``log``, ints if ``integer``) or choices."""

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def grid(self, points: int) -> list[Any]:
        """``points`` values evenly spaced from low to high (in log space if ``log``); all choices."""
        if self.choices is not None:
            return list(self.choices)
        if points == 1:
            return [self._cast(self._from_unit(0.5))]
        values = [self._cast(self._from_unit(i / (points - 1))) for i in range(points)]
        return list(dict.fromkeys(values))  # integer ranges may repeat a value

    def suggest(self, trial: Any) -> Any:
        """This dimension's value for an Optuna ``trial`` (categorical, int or float, log scale if ``log``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def _from_unit(self, u: float) -> float:
        if u <= 0.0 or u >= 1.0:  # the ends exactly, not exp(log(high)) one ulp past it
            return self.low if u <= 0.0 else self.high
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def _to_unit(self, x: float) -> float:
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def extremes(self) -> list[Any]:
        """Every choice, or both ends of the range: what a trial may be given, at its most extreme."""
        return list(self.choices) if self.choices is not None else [self._cast(self.low), self._cast(self.high)]

    def _cast(self, x: float) -> Any:
        return int(round(x)) if self.integer else float(x)


def parse_space(spec: str, known: Mapping[str, type] | None = None) -> dict[str, Dimension]:
    """Parse ``"lr=1e-4:1e-1:log,momentum=0.8:0.99,optimizer=sgd|adam"``.

    ``known`` maps the allowed names to their type (``int`` makes an integer range); None allows any name.
    Raises DescentError for an empty space, an unknown name or a malformed range.
    """
    space: dict[str, Dimension] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep or not name or not rest:
            raise DescentError(f"search space item {item!r} is not name=low:high[:log] or name=a|b")
        if known is not None and name not in known:
            raise DescentError(f"unknown search parameter {name!r}; choose from {', '.join(sorted(known))}")
        if name in space:
            raise DescentError(f"search parameter {name!r} is given twice")
        kind = known.get(name, float) if known is not None else float
        space[name] = _parse_dimension(name, rest.strip(), kind)
    if not space:
        raise DescentError(f"empty search space {spec!r}: give at least one name=low:high")
    return space


def _parse_dimension(name: str, text: str, kind: type) -> Dimension:
    if "|" in text:
        choices = tuple(_parse_choice(c.strip(), kind) for c in text.split("|") if c.strip())
        if not choices:
            raise DescentError(f"search parameter {name!r}: no choices in {text!r}")
        return Dimension(name, choices=choices)
    parts = text.split(":")
    flags = {p.strip() for p in parts[2:]}
    if len(parts) < 2 or not flags <= {"log", "int"}:
        raise DescentError(f"search parameter {name!r}: expected low:high[:log], got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise DescentError(f"search parameter {name!r}: {text!r} is not a numeric range") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise DescentError(f"search parameter {name!r}: need finite low < high, got {text!r}")
    log = "log" in flags
    if log and low <= 0:
        raise DescentError(f"search parameter {name!r}: a log range needs low > 0, got {text!r}")
    return Dimension(name, low, high, log=log, integer=kind is int or "int" in flags)


def _parse_choice(text: str, kind: type) -> Any:
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise DescentError(f"choice {text!r} is not a number") from None
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return text


def grid_points(space: Mapping[str, Dimension], trials: int) -> int:
    """Points per range so that the grid has about ``trials`` points: ``round(trials ** (1/d))``, >= 2."""
    ranges = [d for d in space.values() if d.choices is None]
    n_choices = math.prod(len(d.choices) for d in space.values() if d.choices is not None)
    if not ranges:
        return 1
    return max(2, round((trials / n_choices) ** (1.0 / len(ranges))))


def narrow(space: Mapping[str, Dimension], params: Sequence[Mapping[str, Any]], values: Sequence[float],
           top: float = 0.25, pad: float = 0.5) -> dict[str, Dimension]:
    """The coarse-to-fine step: shrink each range around the best trials.

    Keep the best ``max(2, ceil(top * n))`` trials; a range becomes ``[min, max]`` of their values (in the
    unit coordinates of the old range, log scale if ``log``) widened by ``pad`` times its width on each side
    (at least 5% of the old range), clipped to the old range. A choice keeps the choices the best trials made.
    """
    if not params:
        return dict(space)
    k = max(2, math.ceil(top * len(params)))
    best = [p for _, p in sorted(zip(values, params, strict=False), key=lambda vp: -vp[0])[:k]]
    narrowed = {}
    for name, dim in space.items():
        seen = [p[name] for p in best if name in p]
        if not seen:
            narrowed[name] = dim
        elif dim.choices is not None:
            narrowed[name] = replace(dim, choices=tuple(c for c in dim.choices if c in seen))
        else:
            u = [dim._to_unit(float(x)) for x in seen]
            width = max(max(u) - min(u), 0.1)
            lo, hi = max(0.0, min(u) - pad * width), min(1.0, max(u) + pad * width)
            low, high = dim._from_unit(lo), dim._from_unit(hi)
            if dim.integer:
                low, high = math.floor(low), math.ceil(high)
            narrowed[name] = replace(dim, low=low, high=high)
    return narrowed
