"""Stochastic gradient descent, with momentum and Nesterov's look-ahead: one rule, three public classes."""

from __future__ import annotations

from typing import Any

from .. import checks
from . import conventions
from ._base import FirstOrder, decayed_gradient
from ._fused_cpu import FusedKernel


def momentum_rule(p, g, v, *, lr, rho, rho_t, scale_t, weight_decay, decoupled, nesterov, lr_in_velocity,
                  maximize):
    """One step for one parameter (or one ``TensorList`` bucket); ``v is None`` means plain SGD.

    ``v <- rho_t v + scale_t g``: ``rho_t``/``scale_t`` are ``rho``/``1 - dampening``, except on the first
    step where they are 0/1 so that ``v_1 = g_1`` exactly as torch.optim initialises its buffer.
    """
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    if v is None:
        p.add_(g, alpha=-lr)
    elif lr_in_velocity:  # CS231n: v <- rho v - lr g ; w <- w + v  (Nesterov: the look-ahead form)
        if nesterov:
            p.add_(v, alpha=-rho)
        v.mul_(rho_t).add_(g, alpha=-lr * scale_t)
        p.add_(v, alpha=1 + rho if nesterov else 1)
    else:  # the notes' code and torch.optim: v <- rho v + g ; w <- w - lr v  (Nesterov: w - lr (g + rho v))
        v.mul_(rho_t).add_(g, alpha=scale_t)
        p.add_(g.add(v, alpha=rho) if nesterov else v, alpha=-lr)


class Momentum(FirstOrder):
    r"""SGD with momentum (Polyak's heavy ball), or with Nesterov's look-ahead.

    Default ("lr outside the velocity", torch.optim.SGD and the notes' code), with ``rho = momentum``,
    ``d = dampening``, ``g`` the gradient plus ``weight_decay * w``:

    .. math::  v_{t+1} = \rho v_t + (1 - d) g_t,\quad v_1 = g_1; \qquad w_{t+1} = w_t - lr\, v_{t+1}

    Nesterov (``nesterov=True``): :math:`w_{t+1} = w_t - lr (g_t + \rho v_{t+1})`.

    ``lr_in_velocity=True`` (CS231n slides, Sutskever et al.): the velocity carries the learning rate,

    .. math::  v_{t+1} = \rho v_t - lr (1 - d) g_t; \qquad w_{t+1} = w_t + v_{t+1}

    and Nesterov is the notes' look-ahead form on :math:`\tilde w_t = w_t + \rho v_t`:
    :math:`\tilde w_{t+1} = \tilde w_t + v_{t+1} + \rho (v_{t+1} - v_t)`.
    Both conventions give the same iterates while ``lr`` is constant; when a schedule changes ``lr``, the
    first rescales only new gradients, the second also the momentum already accumulated.

    ``decoupled_weight_decay=True`` shrinks the weights first, :math:`w \leftarrow w (1 - lr\,\lambda)`, and
    leaves ``g`` alone (Keras' ``weight_decay``).

    Defaults: ``lr=1e-3``, ``momentum=0.9`` (torch.optim.SGD's default is 0: here 0 would be plain
    :class:`SGD`), ``dampening=0``, ``weight_decay=0`` (L2 added to the gradient), ``nesterov=False``.
    Equals ``torch.optim.SGD(momentum=0.9)``; ``convention="keras"`` is Keras ``SGD(momentum=0.9)`` (lr
    inside the velocity, ``lr=1e-2``, decoupled decay), ``"optax"`` Optax ``sgd(momentum=0.9)`` (as torch),
    ``"cs231n"`` the assignment's ``sgd_momentum`` (lr inside, ``lr=1e-2``); see :mod:`.conventions`.

    Reference: B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", 1964;
    I. Sutskever et al., "On the importance of initialization and momentum in deep learning", ICML 2013.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Momentum([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):  # loss = |w|^2, gradient 2w
    ...     opt.zero_grad()
    ...     (w**2).sum().backward()
    ...     opt.step()
    >>> w.detach()  # step 1: w - 0.1 * 2w; step 2 adds 0.9 times the first velocity
    tensor([ 0.4600, -0.9200])
    """

    buffers = ("momentum_buffer",)
    rule = staticmethod(momentum_rule)
    preset = "momentum"  # the row of descent.optim.conventions.PRESETS
    stateless_without_buffers = True  # momentum = 0: the rule uses neither a velocity nor the step
    kernel = FusedKernel("momentum", scalars=("rho", "rho_t", "scale_t", "weight_decay", "neg_lr", "neg_rho",
                                              "neg_lr_scale_t", "one_plus_rho", "decoupled_decay"),
                         flags=("maximize", "has_weight_decay", "decoupled", "has_velocity", "lr_in_velocity",
                                "nesterov"))

    def __init__(self, params: Any, lr: float | None = None, momentum: float = 0.9, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, convention: str | None = None,
                 lr_in_velocity: bool | None = None, decoupled_weight_decay: bool | None = None,
                 maximize: bool = False, foreach: bool | None = None, fused: bool | None = None):
        c = conventions.resolve(self.preset, convention, dict(lr=lr, lr_in_velocity=lr_in_velocity,
                                                             decoupled_weight_decay=decoupled_weight_decay))
        momentum = checks.nonnegative("momentum", momentum)
        dampening = checks.in_unit_interval("dampening", dampening, closed=True)
        weight_decay = checks.nonnegative("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"invalid nesterov=True with momentum={momentum!r}, dampening={dampening!r}: "
                             "Nesterov needs momentum > 0 and dampening = 0")
        defaults = dict(momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                        convention=convention, **c)
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _active(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.buffers if group["momentum"] != 0 else ()

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        rho = group["momentum"]
        return dict(lr=group["lr"], rho=rho, rho_t=rho if step > 1 else 0.0,
                    scale_t=1.0 - group["dampening"] if step > 1 else 1.0,
                    weight_decay=group["weight_decay"] or None, decoupled=group["decoupled_weight_decay"],
                    nesterov=group["nesterov"],
                    lr_in_velocity=group["lr_in_velocity"], maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        lr, rho, scale_t, wd = hyper["lr"], hyper["rho"], hyper["scale_t"], hyper["weight_decay"]
        return dict(rho=rho, rho_t=hyper["rho_t"], scale_t=scale_t, weight_decay=wd or 0.0, neg_lr=-lr,
                    neg_rho=-rho, neg_lr_scale_t=-lr * scale_t, one_plus_rho=1 + rho,
                    decoupled_decay=1 - lr * (wd or 0.0), decoupled=hyper["decoupled"],
                    maximize=hyper["maximize"], has_weight_decay=wd is not None,
                    has_velocity=buffers[0] is not None,  # momentum_buffer
                    lr_in_velocity=hyper["lr_in_velocity"], nesterov=hyper["nesterov"])


class SGD(Momentum):
    r"""Plain (stochastic) gradient descent: :math:`w_{t+1} = w_t - lr\, (g_t + \lambda w_t)`.

    :math:`\lambda` = ``weight_decay``.

    Defaults ``lr=1e-3``, ``weight_decay=0``, as ``torch.optim.SGD()`` (whose default momentum is 0);
    Keras ``SGD`` and Optax ``sgd`` are the same rule. Reference: H. Robbins and S. Monro, "A stochastic
    approximation method", 1951. Momentum is :class:`Momentum`; this class is its ``momentum=0`` case.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w**2).sum().backward()  # gradient 2w = [2, -4]
    >>> opt.step()
    >>> w.detach()  # w - 0.1 * 2w
    tensor([ 0.8000, -1.6000])
    """

    def __init__(self, params: Any, lr: float | None = None, weight_decay: float = 0.0, *,
                 convention: str | None = None, decoupled_weight_decay: bool | None = None,
                 maximize: bool = False, foreach: bool | None = None, fused: bool | None = None):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay, convention=convention,
                         decoupled_weight_decay=decoupled_weight_decay, maximize=maximize, foreach=foreach,
                         fused=fused)


class Nesterov(Momentum):
    r"""Nesterov's accelerated gradient: :class:`Momentum` with ``nesterov=True`` (see its update rule).

    Equals ``torch.optim.SGD(momentum=0.9, nesterov=True)``; with ``lr_in_velocity=True`` it is the notes'
    look-ahead form :math:`\tilde w_{t+1} = \tilde w_t + v_{t+1} + \rho (v_{t+1} - v_t)`.
    Reference: Y. Nesterov, "A method for solving the convex programming problem with convergence rate
    O(1/k^2)", 1983.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Nesterov([w], lr=0.1, momentum=0.9)
    >>> (w**2).sum().backward()  # gradient g = 2w, and v_1 = g
    >>> opt.step()
    >>> w.detach()  # w - 0.1 (g + 0.9 v_1) = w - 0.1 * 1.9 * 2w
    tensor([ 0.6200, -1.2400])
    """

    def __init__(self, params: Any, lr: float | None = None, momentum: float = 0.9, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = True, **options: Any):
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov, **options)
