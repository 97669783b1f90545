"""Argument types shared by the sub-commands: each rejects a bad value with a message naming it.

argparse prefixes a type's message with the flag (``argument --lr: invalid value '-1': must be ...``);
:func:`descent.cli.one_wording` turns that into :mod:`descent.checks`' wording, ``invalid --lr='-1': must be ...``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(cast: Callable[[str], float], ok: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """An argparse type: ``cast(text)`` must satisfy ``ok``; otherwise 'invalid value <text>: must be <expected>'."""

    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {expected}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be {expected}")
        return value

    parse.__name__ = expected.replace(" ", "_")  # argparse names the type in some messages
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
nonneg_int = _number(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _number(float, lambda v: v > 0 and math.isfinite(v), "a positive finite number")
nonneg_float = _number(float, lambda v: v >= 0 and math.isfinite(v), "a non-negative finite number")
probability = _number(float, lambda v: 0.0 <= v < 1.0, "a probability in [0, 1)")
