"""Weight penalties added to the loss: ``J(theta) + lambda * R(W)``.

Three penalties, each a sum over the entries ``W_kl`` of every penalized weight matrix or kernel:

* ``l2``  (Ridge, "weight decay"):   ``R(W) = sum_k sum_l W_kl^2``
* ``l1``  (Lasso):                   ``R(W) = sum_k sum_l |W_kl|``
* ``elastic_net`` (L1 + L2):         ``R(W) = sum_k sum_l beta * W_kl^2 + |W_kl|``

(One slide of the source notes swaps the names: L1 is Lasso, L2 is Ridge.)

Only the weights of Linear and Conv layers are penalized by default; biases and the scale/shift of
normalization layers are left alone, as in common practice (penalizing a bias does not limit the
capacity of the model, and penalizing the batch-norm scale fights the normalization).

L2 in the loss versus decoupled weight decay
--------------------------------------------
With plain SGD, ``lambda * sum W^2`` in the loss is the same as ``torch.optim.SGD(weight_decay=2 * lambda)``:
the gradient gains ``2 * lambda * W`` and every weight decays by the factor ``1 - 2 * lr * lambda`` per step.
With Adam the penalty's gradient goes through the moments, so the decay of ``W`` is divided by
``sqrt(v) + eps``: weights with large gradients are decayed less. Decoupled weight decay (AdamW;
Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019) instead applies
``W <- W - lr * weight_decay * W`` outside the adaptive scaling. That lives in the optimizers
(``descent.optim``), not here; this module is the coupled, in-the-loss kind
(Keras: ``kernel_regularizer=l2(lambda)``; Optax: ``add_decayed_weights`` *before* the Adam scaling).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from . import checks

__all__ = ["l1", "l2", "elastic_net", "penalized_parameters", "penalty"]

# Modules whose ``weight`` is a weight matrix or kernel (DropConnectLinear is an nn.Linear).
_WEIGHTED = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd)


def _sum_over(params: Iterable[torch.Tensor], term) -> torch.Tensor:
    """``sum over tensors W of sum over entries of term(W)``; a 0-d tensor (0.0 when there are none)."""
    params = list(params)
    if not params:
        return torch.zeros(())
    return torch.stack([term(W).sum() for W in params]).sum()


def l2(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Ridge penalty ``R(W) = sum W^2`` over all given tensors. Gradient: ``2 W``."""
    return _sum_over(params, lambda W: W.square())


def l1(params: Iterable[torch.Tensor]) -> torch.Tensor:
    """Lasso penalty ``R(W) = sum |W|`` over all given tensors. (Sub)gradient: ``sign(W)``, 0 at 0."""
    return _sum_over(params, lambda W: W.abs())


def elastic_net(params: Iterable[torch.Tensor], beta: float = 0.5) -> torch.Tensor:
    """Elastic net ``R(W) = sum beta * W^2 + |W|`` (Zou & Hastie, "Regularization and variable selection
    via the elastic net", 2005), in the lecture's spelling: ``beta`` weighs the L2 part against L1."""
    beta = checks.nonnegative("beta", beta)
    return _sum_over(params, lambda W: beta * W.square() + W.abs())


def penalized_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The weights of the Linear and Conv layers of ``model`` (each once, even if shared).

    Biases, batch/layer-norm scales and shifts, and embeddings are excluded."""
    seen: set[int] = set()
    weights = []
    for module in model.modules():
        W = getattr(module, "weight", None)
        if isinstance(module, _WEIGHTED) and isinstance(W, nn.Parameter) and id(W) not in seen:
            seen.add(id(W))
            weights.append(W)
    return weights


def penalty(
    model: nn.Module, l1: float = 0.0, l2: float = 0.0, elastic_net: float = 0.0, beta: float = 0.5
) -> torch.Tensor:
    """``lambda_1 * sum |W| + lambda_2 * sum W^2 + lambda_e * sum (beta W^2 + |W|)`` over
    :func:`penalized_parameters`; a 0-d tensor on the weights' device, to add to the data loss.

    Every lambda defaults to 0 (no penalty); ``beta=0.5``. Raises ValueError for a negative lambda or beta.
    """
    lam_l1 = checks.nonnegative("l1", l1)
    lam_l2 = checks.nonnegative("l2", l2)
    lam_en = checks.nonnegative("elastic_net", elastic_net)
    beta = checks.nonnegative("beta", beta)
    weights = penalized_parameters(model)
    total = torch.zeros((), device=weights[0].device if weights else None)
    if lam_l1:
        total = total + lam_l1 * _l1(weights)
    if lam_l2:
        total = total + lam_l2 * _l2(weights)
    if lam_en:
        total = total + lam_en * _elastic_net(weights, beta)
    return total


# ``penalty``'s keyword arguments shadow the functions; keep module-level aliases for it.
_l1, _l2, _elastic_net = l1, l2, elastic_net
