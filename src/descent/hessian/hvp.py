r"""Hessian-vector products of any model's loss, without forming the Hessian (Pearlmutter, 1994).

For a scalar loss :math:`L(\theta)` with gradient :math:`g(\theta) = \nabla L(\theta)`,

.. math::

    H v = \nabla_\theta \big( g(\theta)^\top v \big),

one extra backward pass through the graph of the gradient. :class:`HessianOperator` evaluates the loss and
its gradient (``create_graph=True``) once, keeps that graph, and answers every ``H v`` with one backward pass
through it, so the cost of a product is about that of one more gradient. The loss must therefore be a fixed
function of the parameters while the operator lives (a fixed batch; dropout masks and batch-norm statistics
are those of the one forward pass). Vectors are flat: one entry per scalar parameter, in ``params`` order.

Every product is counted (``operator.hvps``), and the results of :mod:`descent.hessian`'s estimators carry
the count of the products they used, so the cost of each number is known.

>>> import torch
>>> w = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
>>> op = HessianOperator(lambda: (w[0] ** 2 * w[1] + 3 * w[1] ** 2), [w])  # H = [[2 w1, 2 w0], [2 w0, 6]]
>>> op(torch.tensor([1.0, 0.0], dtype=torch.float64)).tolist(), op.hvps
([4.0, 2.0], 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

LossFn = Callable[[], torch.Tensor]


class Counted(tuple):
    """A tuple of results that also says how many Hessian-vector products produced it (``.hvps``)."""

    hvps: int

    def __new__(cls, items: Iterable, hvps: int) -> Counted:
        obj = super().__new__(cls, tuple(items))
        obj.hvps = int(hvps)
        return obj


def trainable(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """The parameters that require gradients (a model's ``parameters()`` may include frozen ones)."""
    kept = [p for p in params if p.requires_grad]
    if not kept:
        raise ValueError("invalid params=[]: must hold at least one tensor that requires grad")
    return kept


def flatten(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """One flat vector of the tensors' entries, in order."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    """The inverse of :func:`flatten`: views of ``vector`` shaped like ``like``."""
    out, start = [], 0
    for t in like:
        out.append(vector[start: start + t.numel()].view_as(t))
        start += t.numel()
    return out


class HessianOperator:
    """``v -> H v`` for the loss ``loss_fn()`` at the current ``params``; ``len(op)`` is the dimension.

    ``loss_fn`` is a zero-argument callable returning the scalar loss. It is called once, at construction.
    ``dtype``/``device`` of the vectors are those of the first parameter.
    """

    def __init__(self, loss_fn: LossFn, params: Iterable[torch.Tensor]) -> None:
        self.params = trainable(params)
        loss = loss_fn()
        if loss.dim() != 0:
            raise ValueError(f"invalid loss_fn()={tuple(loss.shape)}: must return a scalar (0-dim) tensor")
        self.loss = loss.detach()
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        self.dim = sum(p.numel() for p in self.params)
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.hvps = 0

    def __len__(self) -> int:
        return self.dim

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat ``v`` of :attr:`dim` entries (a flat vector of the same dtype and device)."""
        if v.shape != (self.dim,):
            raise ValueError(f"invalid v.shape={tuple(v.shape)}: must be ({self.dim},), one entry per parameter")
        self.hvps += 1
        used = [(g, p, u) for g, p, u in zip(self.grads, self.params, unflatten(v.to(self.dtype), self.params))
                if g is not None and g.requires_grad]
        products = [torch.zeros_like(p) for p in self.params]
        if used:
            hv = torch.autograd.grad([g for g, _, _ in used], self.params, grad_outputs=[u for _, _, u in used],
                                     retain_graph=True, allow_unused=True)
            products = [h if h is not None else z for h, z in zip(hv, products)]
        return flatten(products).detach()

    def random(self, generator: torch.Generator, kind: str = "rademacher") -> torch.Tensor:
        """A random flat vector: Rademacher (entries +-1) or Gaussian (entries N(0, 1))."""
        if kind == "rademacher":
            z = torch.randint(0, 2, (self.dim,), generator=generator, dtype=torch.int8).to(self.dtype) * 2 - 1
        elif kind == "gaussian":
            z = torch.randn(self.dim, generator=generator, dtype=self.dtype)
        else:
            raise ValueError(f"invalid kind={kind!r}: must be one of rademacher, gaussian")
        return z.to(self.device)


def hvp(loss_fn: LossFn, params: Iterable[torch.Tensor], v: torch.Tensor) -> torch.Tensor:
    """One Hessian-vector product ``H v`` (flat); for many, build one :class:`HessianOperator` and reuse it.

    >>> import torch
    >>> x = torch.tensor([1.0, -1.0], requires_grad=True)
    >>> hvp(lambda: (x ** 3).sum(), [x], torch.ones(2)).tolist()  # H = diag(6 x)
    [6.0, -6.0]
    """
    return HessianOperator(loss_fn, params)(v)
