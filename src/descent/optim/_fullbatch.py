"""Bookkeeping shared by the full-batch (closure) optimizers, L-BFGS and Newton.

Both see all parameters of all groups as one flat vector ``x``; a closure re-evaluates the loss. This module
holds the flattening, the checks on the closure (present, scalar), and :func:`functional_loss`, which turns
an ordinary closure (``zero_grad(); loss = f(); loss.backward(); return loss``) into a pure function
``x -> loss`` that torch.func can differentiate twice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

Closure = Callable[[], torch.Tensor]


def flat_params(params: list[torch.Tensor]) -> torch.Tensor:
    """The parameters as one detached vector x (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def flat_grad(params: list[torch.Tensor]) -> torch.Tensor:
    """The gradients as one vector; a parameter without ``.grad`` contributes zeros."""
    return torch.cat([torch.zeros(p.numel(), dtype=p.dtype, device=p.device) if p.grad is None
                      else p.grad.reshape(-1) for p in params])


@torch.no_grad()
def set_params(params: list[torch.Tensor], x: torch.Tensor) -> None:
    """Write the flat vector x back into the parameters, in place."""
    offset = 0
    for p in params:
        p.copy_(x[offset:offset + p.numel()].view_as(p))
        offset += p.numel()


def require_closure(closure: Closure | None, who: str) -> Closure:
    if closure is None or not callable(closure):
        raise ValueError(f"{who}.step needs a closure that re-evaluates the loss (full batch), "
                         f"got {closure!r}")
    return closure


def as_scalar(loss: object, who: str) -> torch.Tensor:
    """Check that the closure returned a scalar tensor (one number), else a ValueError."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"{who}: the closure must return a scalar loss tensor, got {shape}; "
                         "reduce it (e.g. .mean()) before returning")
    return loss.reshape(())


def loss_and_grad(closure: Closure, params: list[torch.Tensor], who: str) -> tuple[float, torch.Tensor]:
    """Evaluate the closure at the current parameters: (f(x), grad f(x)) as a float and a flat vector."""
    with torch.enable_grad():
        loss = as_scalar(closure(), who)
    return float(loss), flat_grad(params)


class _Substitute(TorchFunctionMode):
    """Inside this mode every torch call sees ``views[id(p)]`` where the closure passes parameter ``p``.

    Property access (``p.grad``, ``p.shape``) keeps the real parameter, and ``Tensor.backward`` is a no-op, so
    a closure written for torch.optim (zero_grad, forward, backward, return loss) runs unchanged.
    """

    def __init__(self, views: dict[int, torch.Tensor]):
        super().__init__()
        self.views = views

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.backward:
            return None
        if getattr(func, "__name__", "") in ("__get__", "__set__"):
            return func(*args, **kwargs)
        views = self.views

        def swap(a):
            if isinstance(a, torch.Tensor):
                return views.get(id(a), a)
            if isinstance(a, (list, tuple)):  # torch.cat([w, b]), torch.stack(...)
                return type(a)(swap(b) for b in a)
            return a

        return func(*(swap(a) for a in args), **{k: swap(v) for k, v in kwargs.items()})


def functional_loss(closure: Closure, params: list[torch.Tensor],
                    who: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The closure as a pure function of the flat parameter vector: ``f(x) = loss`` at parameters ``x``.

    torch.func transforms (``grad``, ``hessian``, ``jvp``) apply to ``f`` directly; the real parameters are
    neither read for values nor changed.
    """

    def f(x: torch.Tensor) -> torch.Tensor:
        views, offset = {}, 0
        for p in params:
            views[id(p)] = x[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        with _Substitute(views):
            loss = closure()
        return as_scalar(loss, who)

    return f
