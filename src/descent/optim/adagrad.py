"""AdaGrad: per-coordinate step sizes from the running sum of squared gradients."""

from __future__ import annotations

from typing import Any

import torch

from ._base import FirstOrder, denominator, nonnegative, positive


def adagrad_rule(p, g, h, *, clr, eps, eps_inside_sqrt, weight_decay, maximize):
    """One step for one parameter (or one :class:`TensorList` bucket): ``h += g*g; w -= clr g / denom``."""
    if maximize:
        g = g.neg()
    if weight_decay is not None:
        g = g.add(p, alpha=weight_decay)
    h.addcmul_(g, g, value=1)
    p.addcdiv_(g, denominator(h, eps, eps_inside_sqrt), value=-clr)


class AdaGrad(FirstOrder):
    r"""AdaGrad: divide each coordinate's step by the root of its accumulated squared gradients.

    With ``g`` the gradient plus ``weight_decay * w`` and ``h_0 = initial_accumulator_value``:

    .. math::  h_t = h_{t-1} + g_t \odot g_t, \qquad
               w_t = w_{t-1} - \frac{lr}{1 + (t-1) \delta} \cdot \frac{g_t}{\sqrt{h_t} + \epsilon}

    (:math:`\delta` = ``lr_decay``).

    ``eps_inside_sqrt=True`` divides by :math:`\sqrt{h_t + \epsilon}` instead (the notes' slide, Keras 3
    and Optax); the notes' code and CS231n put ``1e-7`` outside as PyTorch does.

    Defaults as ``torch.optim.Adagrad``: ``lr=1e-2``, ``lr_decay=0``, ``weight_decay=0``,
    ``initial_accumulator_value=0`` (CS231n's ``grad_squared = 0``; Keras and Optax start at 0.1),
    ``eps=1e-10`` (Keras and Optax: 1e-7).

    Reference: J. Duchi, E. Hazan and Y. Singer, "Adaptive subgradient methods for online learning and
    stochastic optimization", JMLR 2011.
    """

    buffers = ("sum",)
    rule = staticmethod(adagrad_rule)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 eps_inside_sqrt: bool = False, maximize: bool = False, foreach: bool | None = None,
                 fused: bool | None = None):
        nonnegative("lr_decay", lr_decay)
        nonnegative("weight_decay", weight_decay)
        nonnegative("initial_accumulator_value", initial_accumulator_value)
        positive("eps", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                        initial_accumulator_value=initial_accumulator_value, eps_inside_sqrt=eps_inside_sqrt)
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _init_buffer(self, name: str, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        return torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        return dict(clr=group["lr"] / (1 + (step - 1) * group["lr_decay"]), eps=group["eps"],
                    eps_inside_sqrt=group["eps_inside_sqrt"], weight_decay=group["weight_decay"] or None,
                    maximize=group["maximize"])
