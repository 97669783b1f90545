r"""Gradient checking: compare autograd's (analytic) gradient with a numerical one, in float64.

* ``numerical_gradient(f, x, h=1e-5, method='centered')``: for each coordinate i,
  centered :math:`(f(x + h e_i) - f(x - h e_i)) / 2h` (error O(h^2)) or forward
  :math:`(f(x + h e_i) - f(x)) / h` (error O(h)). It costs O(dimensions) evaluations of f: a check, not a
  way to train.
* ``relative_error(a, n)`` elementwise :math:`|a - n| / \max(|a|, |n|)`, defined as 0 where both are 0
  (0/0: the two gradients agree exactly).
* ``check(f, x)``: the largest relative error between ``torch.autograd`` and the numerical gradient.
* ``check_module(module, loss_fn, x, y)``: one :class:`ParamReport` per named parameter of a float64 copy.
* ``verdict(error)``: the lecture's reading: < 1e-7 ``'good'``, > 1e-2 ``'wrong'``, in between ``'check'``
  (kinks such as ReLU or hinge, or a tiny gradient, can put a correct gradient there).

Reference: CS231n notes, "Neural Networks Part 3: Learning and Evaluation" (gradient checks);
torch.autograd.gradcheck does the same with an absolute+relative tolerance instead of this report.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

GOOD, WRONG = 1e-7, 1e-2
METHODS = ("centered", "forward")


def verdict(error: float) -> str:
    """'good' below 1e-7, 'wrong' above 1e-2 (or NaN), 'check' in between."""
    if error < GOOD:
        return "good"
    if error <= WRONG:
        return "check"
    return "wrong"


@torch.no_grad()
def numerical_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-5,
                       method: str = "centered") -> torch.Tensor:
    """Finite-difference gradient of the scalar function f at x (same shape as x), computed in float64."""
    if method not in METHODS:
        raise ValueError(f"method must be 'centered' or 'forward', got method={method!r}")
    if not h > 0:
        raise ValueError(f"h must be positive, got h={h!r}")
    x = x.detach().to(torch.float64).clone()
    flat = x.view(-1)
    grad = torch.zeros_like(flat)
    f0 = float(f(x)) if method == "forward" else 0.0
    for i in range(flat.numel()):
        original = float(flat[i])
        flat[i] = original + h
        f_plus = float(f(x))
        if method == "centered":
            flat[i] = original - h
            grad[i] = (f_plus - float(f(x))) / (2 * h)
        else:
            grad[i] = (f_plus - f0) / h
        flat[i] = original
    return grad.view_as(x)


def relative_error(a: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Elementwise ``|a - n| / max(|a|, |n|)``, with 0/0 defined as 0."""
    a, n = a.to(torch.float64), n.to(torch.float64)
    scale = torch.maximum(a.abs(), n.abs())
    diff = (a - n).abs()
    return torch.where(scale > 0, diff / torch.where(scale > 0, scale, 1.0), diff)


def analytic_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The autograd gradient of f at x, in float64."""
    x = x.detach().to(torch.float64).requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(f(x), x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def check(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float = 1e-5,
          method: str = "centered") -> float:
    """The largest relative error between the autograd gradient of f at x and the numerical one."""
    a = analytic_gradient(f, x)
    n = numerical_gradient(f, x, h=h, method=method)
    return float(relative_error(a, n).max()) if a.numel() else 0.0


@dataclass(frozen=True)
class ParamReport:
    """One parameter's gradient check: its name, shape, largest relative error and verdict."""

    name: str
    shape: tuple[int, ...]
    error: float

    @property
    def verdict(self) -> str:
        return verdict(self.error)


def check_module(module: torch.nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 x: torch.Tensor, y: torch.Tensor, h: float = 1e-5) -> list[ParamReport]:
    """Check d loss_fn(module(x), y) / d p for every named parameter p of a float64 copy of the module.

    The module keeps its train/eval mode; put randomness (dropout, DropConnect masks) in eval mode or fix it,
    or the numerical gradient measures noise.
    """
    model = copy.deepcopy(module).to(torch.float64)
    x = x.to(torch.float64) if x.is_floating_point() else x
    y = y.to(torch.float64) if y.is_floating_point() else y
    named = dict(model.named_parameters())
    reports = []
    for name, p in named.items():
        def loss_at(value: torch.Tensor, name: str = name) -> torch.Tensor:
            return loss_fn(torch.func.functional_call(model, {**named, name: value}, (x,)), y)

        reports.append(ParamReport(name, tuple(p.shape), check(loss_at, p.detach(), h=h)))
    return reports
