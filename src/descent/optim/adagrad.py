"""AdaGrad: per-coordinate step sizes from the running sum of squared gradients."""

from __future__ import annotations

from typing import Any

import torch

from .. import checks
from . import conventions
from ._base import FirstOrder, decayed_gradient, denominator
from ._fused_cpu import FusedKernel


def adagrad_rule(p, g, h, *, lr_t, eps, eps_inside_sqrt, weight_decay, decoupled, maximize):
    """One step for one parameter (or one ``TensorList`` bucket): ``h += g*g; w -= lr_t g / denom``,
    ``lr_t`` being this step's decayed rate."""
    g = decayed_gradient(p, g, lr=lr_t, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    h.addcmul_(g, g, value=1)
    p.addcdiv_(g, denominator(h, eps, eps_inside_sqrt), value=-lr_t)


class AdaGrad(FirstOrder):
    r"""AdaGrad: divide each coordinate's step by the root of its accumulated squared gradients.

    With ``g`` the gradient plus ``weight_decay * w`` and ``h_0 = initial_accumulator_value``:

    .. math::  h_t = h_{t-1} + g_t \odot g_t, \qquad
               w_t = w_{t-1} - \frac{lr}{1 + (t-1) \delta} \cdot \frac{g_t}{\sqrt{h_t} + \epsilon}

    (:math:`\delta` = ``lr_decay``).

    ``eps_inside_sqrt=True`` divides by :math:`\sqrt{h_t + \epsilon}` instead (the notes' slide, Keras 3
    and Optax); the notes' code and CS231n put ``1e-7`` outside as PyTorch does.
    ``decoupled_weight_decay=True``: :math:`w \leftarrow w (1 - lr_t \lambda)` first (Keras).

    Defaults as ``torch.optim.Adagrad``: ``lr=1e-2``, ``lr_decay=0``, ``weight_decay=0``,
    ``initial_accumulator_value=0`` (CS231n's ``grad_squared = 0``; Keras and Optax start at 0.1),
    ``eps=1e-10`` (Keras and Optax: 1e-7). ``convention="keras" | "optax" | "cs231n"`` sets those
    frameworks' defaults and flags (:mod:`.conventions`).

    Reference: J. Duchi, E. Hazan and Y. Singer, "Adaptive subgradient methods for online learning and
    stochastic optimization", JMLR 2011.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = AdaGrad([w], lr=0.1)
    >>> (w**2).sum().backward()  # g = 2w; h = g*g, so the first step is lr * sign(g) per coordinate
    >>> opt.step()
    >>> w.detach()
    tensor([ 0.9000, -1.9000])
    """

    buffers = ("sum",)
    rule = staticmethod(adagrad_rule)
    preset = "adagrad"  # the row of descent.optim.conventions.PRESETS
    kernel = FusedKernel("adagrad", scalars=("neg_lr_t", "eps", "weight_decay", "decoupled_decay"),
                         flags=("maximize", "has_weight_decay", "decoupled", "eps_inside_sqrt"))

    def __init__(self, params: Any, lr: float | None = None, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float | None = None, eps: float | None = None, *,
                 convention: str | None = None, eps_inside_sqrt: bool | None = None,
                 decoupled_weight_decay: bool | None = None, maximize: bool = False,
                 foreach: bool | None = None, fused: bool | None = None):
        c = conventions.resolve(self.preset, convention, dict(
            lr=lr, eps=eps, initial_accumulator_value=initial_accumulator_value, eps_inside_sqrt=eps_inside_sqrt,
            decoupled_weight_decay=decoupled_weight_decay))
        lr, eps, initial_accumulator_value = c["lr"], c["eps"], c["initial_accumulator_value"]
        lr_decay = checks.nonnegative("lr_decay", lr_decay)
        weight_decay = checks.nonnegative("weight_decay", weight_decay)
        initial_accumulator_value = checks.nonnegative("initial_accumulator_value", initial_accumulator_value)
        eps = checks.positive("eps", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                        initial_accumulator_value=initial_accumulator_value, convention=convention,
                        eps_inside_sqrt=c["eps_inside_sqrt"], decoupled_weight_decay=c["decoupled_weight_decay"])
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _init_buffer(self, name: str, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        return torch.full_like(p, group["initial_accumulator_value"], memory_format=torch.preserve_format)

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        return dict(lr_t=group["lr"] / (1 + (step - 1) * group["lr_decay"]), eps=group["eps"],
                    eps_inside_sqrt=group["eps_inside_sqrt"], weight_decay=group["weight_decay"] or None,
                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        wd, lr_t = hyper["weight_decay"], hyper["lr_t"]
        return dict(neg_lr_t=-lr_t, eps=hyper["eps"], weight_decay=wd or 0.0, decoupled_decay=1 - lr_t * (wd or 0.0),
                    maximize=hyper["maximize"], has_weight_decay=wd is not None, decoupled=hyper["decoupled"],
                    eps_inside_sqrt=hyper["eps_inside_sqrt"])
