"""Adam and AdamW: RMSProp + momentum with bias correction; one rule, variants by configuration."""

from __future__ import annotations

from typing import Any

from .. import checks
from ._base import FirstOrder, denominator, maximum_
from ._fused_cpu import FusedKernel


def adam_rule(p, g, m, v, v_max, *, lr, beta1, beta2, eps, step_size, root_c, eps_inside_sqrt,
              weight_decay, decoupled, maximize):
    """One step for one parameter (or bucket); ``v_max`` is None unless AMSGrad."""
    if maximize:
        g = g.neg()
    if weight_decay is not None:
        if decoupled:
            p.mul_(1 - lr * weight_decay)
        else:
            g = g.add(p, alpha=weight_decay)
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    if v_max is not None:
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
    * ``amsgrad=True``: divide by the running maximum of :math:`v_t` (Reddi et al. 2018, as torch.optim);
    * ``decoupled_weight_decay=True`` (= :class:`AdamW`): :math:`w \leftarrow w (1 - lr\,\lambda)` before
      the step instead of adding :math:`\lambda w` to ``g``.

    The second moment decays with :math:`\beta_2`; one of the notes' snippets uses :math:`\beta_1` there,
    which is a typo. Defaults as ``torch.optim.Adam``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=0``, ``amsgrad=False``. Keras puts ``epsilon`` (1e-7) outside the root of the *uncorrected*
    :math:`v_t` ("epsilon hat"); Optax ``adam`` matches PyTorch with ``eps_root=0``.

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
                         flags=("maximize", "has_weight_decay", "eps_inside_sqrt", "decoupled", "amsgrad"))

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 decoupled_weight_decay: bool = False, bias_correction: bool = True,
                 eps_inside_sqrt: bool = False, maximize: bool = False, foreach: bool | None = None,
                 fused: bool | None = None):
        betas = checks.betas_pair(betas)
        eps = checks.positive("eps", eps)
        weight_decay = checks.nonnegative("weight_decay", weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        decoupled_weight_decay=decoupled_weight_decay, bias_correction=bias_correction,
                        eps_inside_sqrt=eps_inside_sqrt)
        super().__init__(params, defaults, foreach=foreach, fused=fused, maximize=maximize)

    def _active(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.buffers if group["amsgrad"] else self.buffers[:2]

    def _hyper(self, group: dict[str, Any], step: int) -> dict[str, Any]:
        beta1, beta2 = group["betas"]
        corrected = group["bias_correction"]
        return dict(lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                    step_size=group["lr"] / (1 - beta1**step) if corrected else group["lr"],
                    root_c=(1 - beta2**step) ** 0.5 if corrected else None,
                    eps_inside_sqrt=group["eps_inside_sqrt"], weight_decay=group["weight_decay"] or None,
                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])

    @staticmethod
    def kernel_arguments(hyper: dict[str, Any], buffers: list[list | None]) -> dict[str, Any]:
        wd, root_c, beta2 = hyper["weight_decay"], hyper["root_c"], hyper["beta2"]
        root_c = 1.0 if root_c is None else root_c  # no bias correction: divide by 1
        return dict(neg_step_size=-hyper["step_size"], one_minus_beta1=1 - hyper["beta1"], beta2=beta2,
                    one_minus_beta2=1 - beta2, eps=hyper["eps"], weight_decay=wd or 0.0,
                    decoupled_decay=1 - hyper["lr"] * (wd or 0.0), root_c=root_c, root_c_squared=root_c * root_c,
                    maximize=hyper["maximize"], has_weight_decay=wd is not None,
                    eps_inside_sqrt=hyper["eps_inside_sqrt"], decoupled=hyper["decoupled"],
                    amsgrad=buffers[2] is not None)  # max_exp_avg_sq


class AdamW(Adam):
    r"""AdamW: :class:`Adam` with decoupled weight decay, :math:`w \leftarrow w(1 - lr\,\lambda)` each step.

    Defaults as ``torch.optim.AdamW``: ``lr=1e-3``, ``betas=(0.9, 0.999)``, ``eps=1e-8``,
    ``weight_decay=1e-2`` (Keras: 4e-3, Optax: 1e-4, both also scaling the decay by ``lr``).
    Reference: I. Loshchilov and F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    >>> import torch
    >>> w = torch.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w**2).sum().backward()
    >>> opt.step()
    >>> w.detach()  # w (1 - 0.1 * 0.5), then Adam's first step, lr * sign(g)
    tensor([ 0.8500, -1.8000])
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, **options: Any):
        options["decoupled_weight_decay"] = True
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, **options)
