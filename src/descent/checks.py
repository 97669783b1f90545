"""Every validation of a user-supplied value in descent, in one wording::

    invalid NAME=VALUE: must be WHAT

The optimizers, schedules, the command line and the training job all call these functions, so one bad
value gives one message wherever it enters. Each check returns the value it accepted (converted to
``float``/``int`` where that is the contract), so callers write ``lr = checks.positive("lr", lr)``.

Errors are :class:`ValueError` (torch.optim's convention for hyperparameters); the command line turns them
into one line on stderr and exit status 2.

>>> positive("lr", 0.1)
0.1
>>> positive("lr", -1)
Traceback (most recent call last):
...
ValueError: invalid lr=-1: must be a positive finite number
>>> in_unit_interval("momentum", 0.9)
0.9
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def invalid(name: str, value: Any, must: str) -> ValueError:
    """The one error of this module: ``invalid NAME=VALUE: must be MUST``."""
    return ValueError(f"invalid {name}={value!r}: must be {must}")


def is_real(value: object) -> bool:
    """A real number that is not a bool (``True`` is an int in Python, never a learning rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def number(name: str, value: Any) -> float:
    """Any finite real number."""
    if not (is_real(value) and math.isfinite(value)):
        raise invalid(name, value, "a finite number")
    return float(value)


def positive(name: str, value: Any) -> float:
    """``0 < value < inf``."""
    if not (is_real(value) and 0 < value < math.inf):
        raise invalid(name, value, "a positive finite number")
    return float(value)


def nonnegative(name: str, value: Any) -> float:
    """``0 <= value < inf`` (also rejects NaN)."""
    if not (is_real(value) and 0 <= value < math.inf):
        raise invalid(name, value, "a non-negative finite number")
    return float(value)


def at_least(name: str, value: Any, low: float) -> float:
    """``low <= value < inf``."""
    if not (is_real(value) and low <= value < math.inf):
        raise invalid(name, value, f"a finite number >= {low:g}")
    return float(value)


def in_unit_interval(name: str, value: Any, *, closed: bool = False, open_low: bool = False) -> float:
    """``0 <= value < 1``; ``closed``: ``<= 1``; ``open_low``: ``0 < value``."""
    ok = is_real(value) and (0 < value if open_low else 0 <= value) and (value <= 1 if closed else value < 1)
    if not ok:
        interval = ("(0" if open_low else "[0") + (", 1]" if closed else ", 1)")
        raise invalid(name, value, f"in {interval}")
    return float(value)


def at_most(name: str, value: Any, high: float, what: str) -> float:
    """``value <= high``, where ``what`` names the bound (``"lr=0.1"``)."""
    if not (is_real(value) and value <= high):
        raise invalid(name, value, f"at most {what}")
    return float(value)


def positive_int(name: str, value: Any) -> int:
    """An integer (not a bool) of at least 1."""
    if not (is_integer(value) and value > 0):
        raise invalid(name, value, "a positive integer")
    return int(value)


def nonnegative_int(name: str, value: Any) -> int:
    """An integer (not a bool) of at least 0."""
    if not (is_integer(value) and value >= 0):
        raise invalid(name, value, "a non-negative integer")
    return int(value)


def one_of(name: str, value: T, choices: Iterable[Any]) -> T:
    """``value`` must be one of ``choices`` (listed in the message)."""
    choices = list(choices)
    if value not in choices:
        raise invalid(name, value, "one of " + ", ".join(repr(c) if not isinstance(c, str) else c
                                                          for c in choices))
    return value


def boolean(name: str, value: Any) -> bool:
    """``True`` or ``False`` itself (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise invalid(name, value, "True or False")
    return value


def betas_pair(betas: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in [0, 1)."""
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        raise invalid("betas", betas, "a pair (beta1, beta2)")
    return in_unit_interval("betas[0]", betas[0]), in_unit_interval("betas[1]", betas[1])


def parse_number(name: str, text: str, cast: type = float) -> Any:
    """A number written as text (command line, spec strings): ``cast(text)``, or the one message."""
    try:
        return cast(text)
    except (TypeError, ValueError):
        raise invalid(name, text, "an integer" if cast is int else "a number") from None


def parse_bool(name: str, text: str) -> bool:
    """A boolean written as text: ``true``/``false``, ``1``/``0`` or ``yes``/``no``, in any case."""
    low = str(text).lower()
    if low not in ("true", "false", "1", "0", "yes", "no"):
        raise invalid(name, text, "true or false")
    return low in ("true", "1", "yes")
