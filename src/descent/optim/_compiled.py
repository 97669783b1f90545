"""The fused path off the C++ kernels (CUDA, bfloat16): ``torch.compile`` of a rule, once per rule.

Inside torch.compile a rule runs on :class:`FusedTensor` arguments: every method becomes out-of-place
arithmetic, in-place ones rebind, and the final values are copied back into the inputs. Inductor then emits
ONE loop that reads p, g and the buffers once and writes p and the buffers once (Triton on CUDA).
Arithmetic, unlike the ``value=`` and ``alpha=`` arguments of the eager methods, keeps float
hyperparameters as graph inputs, so a new learning rate or bias correction reuses the compiled code
instead of recompiling.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any

import torch

_FUNCTIONAL: dict[str, Callable[..., Any]] = {
    "add": lambda t, o, alpha=1: t + alpha * o,
    "mul": lambda t, o: t * o,
    "div": lambda t, o: t / o,
    "addcmul": lambda t, a, b, value=1: t + value * (a * b),
    "addcdiv": lambda t, a, b, value=1: t + value * (a / b),
    "lerp": lambda t, end, weight: t + weight * (end - t),
    "sqrt": torch.sqrt,
    "neg": torch.neg,
}


def _value(x: Any) -> Any:
    return x.t if isinstance(x, FusedTensor) else x


class FusedTensor:
    """A tensor value being traced by torch.compile; see ``_FUNCTIONAL``."""

    __slots__ = ("t",)

    def __init__(self, t: torch.Tensor):
        self.t = t


def _methods(fn: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def functional(self, *args, **kwargs):
        return FusedTensor(fn(self.t, *map(_value, args), **{k: _value(v) for k, v in kwargs.items()}))

    def inplace(self, *args, **kwargs):
        self.t = fn(self.t, *map(_value, args), **{k: _value(v) for k, v in kwargs.items()})
        return self

    return functional, inplace


for _name, _fn in _FUNCTIONAL.items():
    _f, _i = _methods(_fn)
    setattr(FusedTensor, _name, _f)
    setattr(FusedTensor, _name + "_", _i)


def _fused_template(*tensors, **hyper):
    wrapped = [None if t is None else FusedTensor(t) for t in tensors]
    RULE(*wrapped, **hyper)  # noqa: F821 -- a global of each rule's copy, see compiled()
    for t, w in zip(tensors, wrapped, strict=True):
        if t is not None and w.t is not t:
            t.copy_(w.t)


# Each combination of boolean options and each dtype is one graph: allow more than dynamo's default 8.
RECOMPILE_LIMIT = 64


def _flat(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.view(-1)


class RuleCompiler:
    """The compiled rules of this process: ``functions`` maps a rule to its compiled template, ``error`` is
    the first compile error when torch.compile cannot run here. One instance, :data:`COMPILER`."""

    def __init__(self) -> None:
        self.functions: dict[Callable, Callable] = {}
        self.error: str | None = None

    def compiled(self, rule: Callable) -> Callable:
        """``torch.compile`` of ``rule`` over FusedTensors with dynamic shapes: one graph serves every tensor
        size, and inductor's on-disk caches (FX graph cache) let later processes skip code generation and
        the C++ compiler. Each rule gets its own copy of the template's code object, hence its own dynamo
        cache (dynamo keys its caches by code object and checks the entries of one cache in turn on every
        call)."""
        if rule not in self.functions:
            code = _fused_template.__code__.replace(co_name=f"fused_{rule.__name__}")
            template = types.FunctionType(code, {**_fused_template.__globals__, "RULE": rule}, code.co_name)
            self.functions[rule] = torch.compile(template, dynamic=True, fullgraph=True)
        return self.functions[rule]

    def run(self, rule: Callable, items: list, hyper: dict[int, dict[str, Any]], *, strict: bool) -> bool:
        """The compiled ``rule`` on each ``((p, g, bufs), step)`` item, flattened; False (nothing done) when
        torch.compile cannot run here (no C++ compiler, a device it does not support), so the caller falls
        back to foreach, with one notice, even under ``fused=True`` (``strict``): the machine, not the call,
        lacks the compiler."""
        if self.error is not None:  # known not to compile here: foreach, as the first failure said
            return False
        fn = self.compiled(rule)
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            for i, ((p, g, bufs), step) in enumerate(items):
                try:
                    fn(_flat(p), _flat(g), *map(_flat, bufs), **hyper[step])
                except Exception as err:  # no C++ compiler, unsupported device...: fall back, but say so once
                    if i:  # it compiled for an earlier tensor: a real error, not this machine's
                        raise
                    self.error = repr(err)
                    warnings.warn(f"descent.optim: fused path unavailable ({err!r}); using foreach",
                                  stacklevel=7)
                    return False
        return True


COMPILER = RuleCompiler()
