"""Adam and AdamW: RMSProp + momentum with bias correction; one rule, variants by configuration."""

from __future__ import annotations

from typing import Any

import torch

from .. import checks
from . import conventions
from ._base import FirstOrder, decayed_gradient, denominator, maximum_
from ._fused_cpu import FusedKernel


def adam_rule(p, g, m, v, v_max, *, lr, beta1, beta2, eps, step_size, root_c, eps_inside_sqrt,
              amsgrad_corrected, weight_decay, decoupled, maximize):
    """One step for one parameter (or bucket); ``v_max`` is None unless AMSGrad. ``root_c`` is None when
    nothing divides v (no bias correction, or Keras' epsilon hat, which folds it into ``step_size``)."""
    g = decayed_gradient(p, g, lr=lr, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    if v_max is not None and amsgrad_corrected and root_c is not None:  # Optax: max of v / (1 - beta2^t)
        v, root_c = maximum_(v_max, v.div(root_c * root_c)), None
    elif v_max is not None:
        v = maximum_(v_max, v)
    p.addcdiv_(m, denominator(v, eps, eps_inside_sqrt, root_c), value=-step_size)


class Adam(FirstOrder):
    r"""Adam: momentum on the gradient (first moment) over RMSProp's root mean square (second moment).

    With ``g`` the gradient (plus ``weight_decay * w`` unless decoupled) and ``t`` the step (1, 2, ...):

    .. math::  m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2

    .. math::  w_t = w_{t-1} - \frac{lr}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon}

    Options, each a point where references differ:

    * ``bias_correction=False``: CS231n's "Adam (almost)",
      :math:`w_t = w_{t-1} - lr\, m_t/(\sqrt{v_t}+\epsilon)`,
      whose first steps are too large because :math:`v` starts at 0 while :math:`\beta_2 \approx 1`;
    * ``eps_inside_sqrt=True``: :math:`\sqrt{\hat v_t + \epsilon}` (the notes' slide; Optax's ``eps_root``);
    * ``eps_hat=True`` (Keras): :math:`\epsilon` added to the *uncorrected* root,
      :math:`w_t = w_{t-1} - lr \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \cdot \frac{m_t}{\sqrt{v_t} + \epsilon}`,
      i.e. the paper's "epsilon hat" :math:`\hat\epsilon = \epsilon \sqrt{1-\beta_2^t}`;
    * ``amsgrad=True``: divide by the running maximum of :math:`v_t` (Reddi et al. 2018, as torch.optim and
      Keras); with ``amsgrad_corrected=True`` the maximum of :math:`\hat v_t = v_t/(1-\beta_2^t)` (Optax);
    * ``decoupled_weight_decay=True`` (= :class:`AdamW`): :math:`w \leftarrow w (1 - lr\,\lambda)` before
      the step instead of adding :math:`\lambda w` to ``g``.

    The second moment decays with :math:`\beta_2`; one of the notes' snippets uses :math:`\beta_1` there,
    which is a typo. Defaults as ``torch.optim.Adam``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=0``, ``amsgrad=False``. ``convention="keras"``: ``eps=1e-7``, ``eps_hat=True`` and a
    decoupled ``weight_decay``; ``"optax"``: as PyTorch (``eps_root=0``) but ``amsgrad_corrected=True``;
    ``"cs231n"``: the assignment's ``adam``, as PyTorch (:mod:`.conventions`).

    Reference: D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w**2).sum().backward()  # after bias correction m/sqrt(v) = g/|g|: the first step is lr * sign(g)
    >>> opt.step()
    >>> w.detach()
    tensor([ 0.9000, -1.9000])
    """

    buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    rule = staticmethod(adam_rule)
    kernel = FusedKernel("adam", scalars=("neg_step_size", "one_minus_beta1", "beta2", "one_minus_beta2", "eps",
                                          "weight_decay", "decoupled_decay", "root_c", "root_c_squared"),
                         flags=("maximize", "has_weight_decay", "eps_inside_sqrt", "decoupled", "amsgrad",
                                "amsgrad_corrected"))
    preset = "adam"  # the row of descent.optim.conventions.PRESETS

    def __init__(self, params: Any, lr: float | None = None, betas: tuple[float, float] | None = None,
                 eps: float | None = None, weight_decay: float | None = None, amsgrad: bool = False, *,
                 convention: str | None = None, decoupled_weight_decay: bool | None = None,
                 bias_correction: bool = True, eps_inside_sqrt: bool | None = None, eps_hat: bool | None = None,
                 amsgrad_corrected: bool | None = None, maximize: bool = False, foreach: bool | None = None,
                 fused: bool | None = None):
        c = conventions.resolve(self.preset, convention, dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
            eps_inside_sqrt=eps_inside_sqrt, eps_hat=eps_hat, amsgrad_corrected=amsgrad_corrected))
        if isinstance(c["betas"], (tuple, list)) and any(isinstance(b, torch.Tensor) for b in c["betas"]):
            raise checks.invalid("betas", c["betas"], "a pair of floats (descent takes no tensor betas)")
        c["betas"] = checks.betas_pair(c["betas"])
        c["eps"] = checks.positive("eps", c["eps"])
        c["weight_decay"] = checks.nonnegative("weight_decay", c["weight_decay"])
        if c["eps_hat"] and c["eps_inside_sqrt"]:
            raise ValueError("invalid eps_hat=True with eps_inside_sqrt=True: choose where eps goes, outside the "
                             "uncorrected root (eps_hat) or inside the corrected one")
        if c["eps_hat"] and c["amsgrad_corrected"]:
            raise ValueError("invalid eps_hat=True with amsgrad_corrected=True: epsilon hat divides the "
                             "uncorrected v, amsgrad_corrected keeps the maximum of the corrected one")
        defaults = dict(amsgrad=amsgrad, bias_correction=bias_correction, convention=convention, **c)
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _active(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.buffers if group["amsgrad"] else self.buffers[:2]

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        beta1, beta2 = group["betas"]
        corrected = group["bias_correction"]
        lr, root_c = group["lr"], (1 - beta2**step) ** 0.5 if corrected else None
        step_size = lr / (1 - beta1**step) if corrected else lr
        if group["eps_hat"] and corrected:  # Keras: lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)
            step_size, root_c = lr * root_c / (1 - beta1**step), None
        return dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"], step_size=step_size, root_c=root_c,
                    eps_inside_sqrt=group["eps_inside_sqrt"], amsgrad_corrected=group["amsgrad_corrected"],
                    weight_decay=group["weight_decay"] or None, decoupled=group["decoupled_weight_decay"],
                    maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        wd, root_c, beta2 = hyper["weight_decay"], hyper["root_c"], hyper["beta2"]
        root_c = 1.0 if root_c is None else root_c  # no bias correction: divide by 1
        return dict(neg_step_size=-hyper["step_size"], one_minus_beta1=1 - hyper["beta1"], beta2=beta2,
                    one_minus_beta2=1 - beta2, eps=hyper["eps"], weight_decay=wd or 0.0,
                    decoupled_decay=1 - hyper["lr"] * (wd or 0.0), root_c=root_c, root_c_squared=root_c * root_c,
                    maximize=hyper["maximize"], has_weight_decay=wd is not None,
                    eps_inside_sqrt=hyper["eps_inside_sqrt"], decoupled=hyper["decoupled"],
                    amsgrad=buffers[2] is not None,  # max_exp_avg_sq
                    amsgrad_corrected=hyper["amsgrad_corrected"] and hyper["root_c"] is not None)


class AdamW(Adam):
    r"""AdamW: :class:`Adam` with decoupled weight decay, :math:`w \leftarrow w(1 - lr\,\lambda)` each step.

    Defaults as ``torch.optim.AdamW``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=1e-2``; ``convention="keras"``: Keras ``AdamW`` (``weight_decay=4e-3``, ``eps=1e-7``,
    epsilon hat), ``"optax"``: Optax ``adamw`` (``weight_decay=1e-4``), both also scaling the decay by ``lr``.
    Reference: I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w**2).sum().backward()
    >>> opt.step()
    >>> w.detach()  # w (1 - 0.1 * 0.5), then Adam's first step, lr * sign(g)
    tensor([ 0.8500, -1.8000])
    """

    preset = "adamw"

    def __init__(self, params: Any, lr: float | None = None, betas: tuple[float, float] | None = None,
                 eps: float | None = None, weight_decay: float | None = None, amsgrad: bool = False,
                 **options: Any):
        if options.get("decoupled_weight_decay", True) is not True:
            raise ValueError("invalid decoupled_weight_decay=False for AdamW: its weight decay is decoupled "
                             "(use Adam for the coupled one)")
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **options)
