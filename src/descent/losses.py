r"""Classification losses on class scores: the multiclass SVM (hinge) loss and softmax cross-entropy.

For scores s (N x C) and labels y:

* SVM: :math:`L = \frac1N \sum_i \sum_{j \ne y_i} \max(0, s_{ij} - s_{i y_i} + \Delta)` with margin
  :math:`\Delta` (default 1). Its backward is the hand-derived gradient of the lecture notes, with
  :math:`m_{ij} = 1(s_{ij} - s_{iy_i} + \Delta > 0)` for :math:`j \ne y_i`:
  :math:`\partial L / \partial s_{ij} = m_{ij} / N` and
  :math:`\partial L / \partial s_{iy_i} = -\sum_{j \ne y_i} m_{ij} / N`. (Through :math:`s = W x` this is
  the notes' :math:`\nabla_{w_j} L_i = m_{ij} x_i`, :math:`\nabla_{w_{y_i}} L_i = -\sum_j m_{ij} x_i`.)
  torch's ``multi_margin_loss(s, y, p=1, margin)`` is the same loss divided by C.
* softmax: :math:`L = \frac1N \sum_i -\log \frac{e^{s_{iy_i}}}{\sum_j e^{s_{ij}}}` (``F.cross_entropy``).

``get(name)`` returns the loss the trainer uses for ``cfg.loss``: ``'svm'`` or ``'softmax'``.

Reference: Weston and Watkins, "Support vector machines for multi-class pattern recognition", 1999;
CS231n lecture notes, "Optimization: stochastic gradient descent" (the SVM gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(scores: torch.Tensor, y: torch.Tensor) -> None:
    if scores.dim() != 2:
        raise ValueError(f"scores must be a (batch, classes) matrix, got shape {tuple(scores.shape)}")
    if y.dim() != 1 or y.shape[0] != scores.shape[0] or y.dtype.is_floating_point:
        raise ValueError(f"y must be {scores.shape[0]} integer labels, got shape {tuple(y.shape)} {y.dtype}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= scores.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}), got {int(y.min())}..{int(y.max())}")


def _margins(scores: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    """max(0, s_j - s_y + margin) for every j, with the j = y entries set to 0."""
    correct = scores.gather(1, y.unsqueeze(1))
    margins = (scores - correct + margin).clamp_min(0)
    return margins.scatter(1, y.unsqueeze(1), 0.0)


class _SVMLoss(torch.autograd.Function):
    """The SVM loss with the notes' hand-derived gradient as its backward (no autograd through forward)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
        margins = _margins(scores, y, margin)
        ctx.save_for_backward(margins, y)
        return margins.sum() / scores.shape[0]

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        margins, y = ctx.saved_tensors
        active = (margins > 0).to(margins.dtype)  # m_ij; zero at j = y_i by construction
        grad = active.scatter(1, y.unsqueeze(1), -active.sum(dim=1, keepdim=True))
        return grad * (grad_loss / margins.shape[0]), None, None


def svm_loss(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Multiclass SVM hinge loss, mean over the batch, with the hand-derived backward (see the module doc)."""
    if not margin >= 0:
        raise ValueError(f"svm_loss: margin must be >= 0, got margin={margin!r}")
    _check(scores, y)
    return _SVMLoss.apply(scores, y, float(margin))


def softmax_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy, mean over the batch (``torch.nn.functional.cross_entropy``)."""
    _check(scores, y)
    return F.cross_entropy(scores, y)


LOSSES: dict[str, Loss] = {"svm": svm_loss, "softmax": softmax_loss}


def get(name: str) -> Loss:
    """The loss called ``name`` ('svm' or 'softmax') as a function (scores, y) -> scalar loss."""
    key = str(name).lower()
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
    return LOSSES[key]
