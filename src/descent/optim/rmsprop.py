"""RMSProp ("leaky AdaGrad"): a decaying average of squared gradients, optionally centered, with momentum."""

from __future__ import annotations

from typing import Any

from .. import checks
from . import conventions
from ._base import FirstOrder, decayed_gradient, denominator
from ._fused_cpu import FusedKernel


def rmsprop_rule(p, g, h, g_avg, v, *, lr, alpha, eps, eps_inside_sqrt, momentum, lr_in_velocity, weight_decay,
                 decoupled, maximize):
    """One step for one parameter (or bucket); ``g_avg``/``v`` are None unless centered/momentum."""
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    h.mul_(alpha).addcmul_(g, g, value=1 - alpha)
    if g_avg is not None:
        g_avg.lerp_(g, 1 - alpha)
        denom = denominator(h.addcmul(g_avg, g_avg, value=-1), eps, eps_inside_sqrt)
    else:
        denom = denominator(h, eps, eps_inside_sqrt)
    if v is not None and lr_in_velocity:  # Keras, Optax: the velocity carries the rate
        v.mul_(momentum).addcdiv_(g, denom, value=lr)
        p.sub_(v)
    elif v is not None:
        v.mul_(momentum).addcdiv_(g, denom)
        p.add_(v, alpha=-lr)
    else:
        p.addcdiv_(g, denom, value=-lr)


class RMSProp(FirstOrder):
    r"""RMSProp: AdaGrad whose sum of squares leaks, :math:`\alpha` being the decay rate.

    With ``g`` the gradient plus ``weight_decay * w``:

    .. math::  h_t = \alpha h_{t-1} + (1 - \alpha)\, g_t \odot g_t, \qquad
               w_t = w_{t-1} - lr \frac{g_t}{\sqrt{h_t} + \epsilon}

    ``centered=True`` uses :math:`h_t - \bar g_t^2` with :math:`\bar g_t = \alpha \bar g_{t-1} + (1-\alpha)
    g_t` (Graves 2013); ``momentum > 0`` keeps :math:`v_t = \mu v_{t-1} + g_t / (\sqrt{h_t} + \epsilon)`
    and steps :math:`w_t = w_{t-1} - lr\, v_t`; with ``lr_in_velocity=True`` (Keras, Optax) the velocity
    carries the rate, :math:`v_t = \mu v_{t-1} + lr_t\, g_t / (\sqrt{h_t} + \epsilon)`, :math:`w_t = w_{t-1} - v_t`
    (the same iterates while the rate is constant). ``eps_inside_sqrt=True`` uses
    :math:`\sqrt{h_t + \epsilon}` (Keras 3, Optax's default), PyTorch and the notes put it outside.
    ``decoupled_weight_decay=True``: :math:`w \leftarrow w (1 - lr\,\lambda)` first (Keras).

    Defaults as ``torch.optim.RMSprop``: ``lr=1e-2``, ``alpha=0.99`` (the notes' ``decay_rate``, Keras'
    and Optax's ``rho``/``decay``: 0.9), ``eps=1e-8``, ``weight_decay=0``, ``momentum=0``,
    ``centered=False``. torch.optim has no fused RMSprop kernel; this class has one (``fused``).
    ``convention="keras" | "optax" | "cs231n"``: those frameworks' defaults and flags (:mod:`.conventions`).

    Reference: G. Hinton, N. Srivastava and K. Swersky, "Neural networks for machine learning", lecture 6e,
    2012; A. Graves, "Generating sequences with recurrent neural networks", 2013 (centered).

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = RMSProp([w], lr=0.01, alpha=0.99)
    >>> (w**2).sum().backward()  # g = 2w; h = 0.01 g*g, so the step is lr * g / sqrt(h) = 0.1 * sign(g)
    >>> opt.step()
    >>> w.detach()
    tensor([ 0.9000, -1.9000])
    """

    buffers = ("square_avg", "grad_avg", "momentum_buffer")
    rule = staticmethod(rmsprop_rule)
    preset = "rmsprop"  # the row of descent.optim.conventions.PRESETS
    kernel = FusedKernel("rmsprop", scalars=("neg_lr", "alpha", "one_minus_alpha", "eps", "momentum",
                                             "weight_decay", "decoupled_decay"),
                         flags=("maximize", "has_weight_decay", "decoupled", "eps_inside_sqrt", "centered",
                                "has_momentum", "lr_in_velocity"))

    def __init__(self, params: Any, lr: float | None = None, alpha: float | None = None, eps: float | None = None,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 convention: str | None = None, eps_inside_sqrt: bool | None = None,
                 lr_in_velocity: bool | None = None, decoupled_weight_decay: bool | None = None,
                 maximize: bool = False, foreach: bool | None = None, fused: bool | None = None):
        c = conventions.resolve(self.preset, convention, dict(
            lr=lr, alpha=alpha, eps=eps, eps_inside_sqrt=eps_inside_sqrt, lr_in_velocity=lr_in_velocity,
            decoupled_weight_decay=decoupled_weight_decay))
        lr, alpha, eps = c["lr"], c["alpha"], c["eps"]
        alpha = checks.in_unit_interval("alpha", alpha, closed=True)
        eps = checks.positive("eps", eps)
        weight_decay = checks.nonnegative("weight_decay", weight_decay)
        momentum = checks.nonnegative("momentum", momentum)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, convention=convention, eps_inside_sqrt=c["eps_inside_sqrt"],
                        lr_in_velocity=c["lr_in_velocity"], decoupled_weight_decay=c["decoupled_weight_decay"])
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _active(self, group: dict[str, Any]) -> tuple[str, ...]:
        centered, momentum = group["centered"], group["momentum"] > 0
        return ("square_avg",) + ("grad_avg",) * centered + ("momentum_buffer",) * momentum

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        return dict(lr=group["lr"], alpha=group["alpha"], eps=group["eps"], momentum=group["momentum"],
                    eps_inside_sqrt=group["eps_inside_sqrt"], lr_in_velocity=group["lr_in_velocity"],
                    weight_decay=group["weight_decay"] or None, decoupled=group["decoupled_weight_decay"],
                    maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        wd, alpha, lr = hyper["weight_decay"], hyper["alpha"], hyper["lr"]
        return dict(neg_lr=-lr, alpha=alpha, one_minus_alpha=1 - alpha, eps=hyper["eps"],
                    momentum=hyper["momentum"], weight_decay=wd or 0.0, decoupled_decay=1 - lr * (wd or 0.0),
                    maximize=hyper["maximize"], has_weight_decay=wd is not None, decoupled=hyper["decoupled"],
                    eps_inside_sqrt=hyper["eps_inside_sqrt"], lr_in_velocity=hyper["lr_in_velocity"],
                    centered=buffers[1] is not None, has_momentum=buffers[2] is not None)  # grad_avg, momentum_buffer
