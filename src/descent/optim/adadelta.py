"""AdaDelta: RMSProp whose step is rescaled by a running RMS of past updates, so no base rate is needed."""

from __future__ import annotations

from typing import Any

from .. import checks
from . import conventions
from ._base import FirstOrder, decayed_gradient, denominator
from ._fused_cpu import FusedKernel


def adadelta_rule(p, g, h, u, *, lr, rho, eps, weight_decay, decoupled, maximize):
    """One step for one parameter (or bucket): ``h`` averages g², ``u`` averages the squared updates."""
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    h.mul_(rho).addcmul_(g, g, value=1 - rho)
    delta = denominator(u, eps, True).div_(denominator(h, eps, True)).mul_(g)
    u.mul_(rho).addcmul_(delta, delta, value=1 - rho)
    p.add_(delta, alpha=-lr)


class AdaDelta(FirstOrder):
    r"""AdaDelta: units-consistent steps from two decaying averages (of squared gradients and updates).

    With ``g`` the gradient plus ``weight_decay * w``:

    .. math::  h_t = \rho h_{t-1} + (1-\rho) g_t^2, \quad
               \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{h_t + \epsilon}} g_t, \quad
               u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2, \quad w_t = w_{t-1} - lr\, \Delta_t

    ``eps`` is inside both roots in every reference (paper, torch.optim, Keras, Optax).
    Defaults as ``torch.optim.Adadelta``: ``lr=1.0`` (the paper has no rate; Keras uses 1e-3),
    ``rho=0.9`` (Keras 0.95), ``eps=1e-6`` (Keras 1e-7), ``weight_decay=0``.
    torch.optim has no fused Adadelta kernel; this class has one (``fused``).
    ``decoupled_weight_decay=True``: :math:`w \leftarrow w (1 - lr\,\lambda)` first (Keras).
    ``convention="keras" | "optax"``: those frameworks' defaults and flags (:mod:`.conventions`).

    Reference: M. D. Zeiler, "ADADELTA: an adaptive learning rate method", 2012.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = AdaDelta([w], lr=1.0, rho=0.9, eps=1e-6)
    >>> (w**2).sum().backward()  # g = 2w; the first step is about sqrt(eps / (1 - rho)) * sign(g)
    >>> opt.step()
    >>> [round(x, 6) for x in w.tolist()]
    [0.996838, -1.996838]
    """

    buffers = ("square_avg", "acc_delta")
    rule = staticmethod(adadelta_rule)
    preset = "adadelta"  # the row of descent.optim.conventions.PRESETS
    kernel = FusedKernel("adadelta", scalars=("neg_lr", "rho", "one_minus_rho", "eps", "weight_decay",
                                              "decoupled_decay"),
                         flags=("maximize", "has_weight_decay", "decoupled"))

    def __init__(self, params: Any, lr: float | None = None, rho: float | None = None, eps: float | None = None,
                 weight_decay: float = 0.0, *, convention: str | None = None,
                 decoupled_weight_decay: bool | None = None, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None):
        c = conventions.resolve(self.preset, convention, dict(lr=lr, rho=rho, eps=eps,
                                                             decoupled_weight_decay=decoupled_weight_decay))
        lr, rho, eps = c["lr"], c["rho"], c["eps"]
        rho = checks.in_unit_interval("rho", rho, closed=True)
        eps = checks.positive("eps", eps)
        weight_decay = checks.nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, convention=convention,
                        decoupled_weight_decay=c["decoupled_weight_decay"])
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        return dict(lr=group["lr"], rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"] or None,
                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        wd, rho, lr = hyper["weight_decay"], hyper["rho"], hyper["lr"]
        return dict(neg_lr=-lr, rho=rho, one_minus_rho=1 - rho, eps=hyper["eps"], weight_decay=wd or 0.0,
                    decoupled_decay=1 - lr * (wd or 0.0), maximize=hyper["maximize"],
                    has_weight_decay=wd is not None, decoupled=hyper["decoupled"])
