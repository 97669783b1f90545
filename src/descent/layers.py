"""Layers for regularization: DropConnect, and inverted dropout spelled out.

Dropout in descent's models is ``torch.nn.Dropout(p)``: *inverted* dropout where ``p`` is the probability of
DROPPING an activation (Keras ``Dropout(rate)`` means the same; the original paper and the CS231n notes
sometimes write ``p`` for the probability of KEEPING one). During training each activation is zeroed with
probability ``p`` and the survivors are multiplied by ``1 / (1 - p)``, so the expected activation is unchanged
and evaluation uses the network as it is, with no rescaling. :func:`inverted_dropout` is the same rule in a
few lines, the reference the tests compare ``nn.Dropout`` against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DropConnectLinear", "inverted_dropout", "check_drop_probability"]


def check_drop_probability(p: float, name: str = "p") -> float:
    """A drop probability must lie in [0, 1): p = 1 would drop everything and divide by zero."""
    if not (isinstance(p, (int, float)) and 0.0 <= p < 1.0):
        raise ValueError(f"{name} must be a drop probability in [0, 1), got {p!r}")
    return float(p)


def inverted_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``y = x * m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` per entry when training, ``y = x`` otherwise.

    Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", 2014.
    Same rule as ``torch.nn.functional.dropout`` (which is what the models use)."""
    p = check_drop_probability(p)
    if not training or p == 0.0:
        return x
    keep = torch.bernoulli(torch.full_like(x, 1.0 - p))
    return x * keep / (1.0 - p)


class DropConnectLinear(nn.Linear):
    """A Linear layer whose WEIGHTS (not activations) are dropped at training time.

    Training:   ``y = x @ (W * M / (1 - p)).T + b``,  ``M_ij ~ Bernoulli(1 - p)``, a fresh ``M`` per forward
    pass (one mask for the whole batch).
    Evaluation: ``y = x @ W.T + b``, deterministic.

    The inverted scaling ``1 / (1 - p)`` makes ``E[y_train] = y_eval``, so evaluation needs no sampling.
    ``p`` is the drop probability, in [0, 1); the bias is never dropped.

    Wan, Zeiler, Zhang, LeCun & Fergus, "Regularization of Neural Networks using DropConnect", 2013. The paper
    samples a mask per example and, at test time, approximates the output distribution by moment matching;
    one mask per batch and the inverted-scaling mean are the cheap variant common in practice (e.g. the
    ``WeightDrop`` of AWD-LSTM). torch, Keras and Optax have no built-in DropConnect.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.p = check_drop_probability(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return F.linear(x, self.weight, self.bias)
        keep = torch.bernoulli(torch.full_like(self.weight, 1.0 - self.p))
        return F.linear(x, self.weight * keep / (1.0 - self.p), self.bias)

    def output_variance(self, x: torch.Tensor) -> torch.Tensor:
        """The training-mode variance of each output over masks, for a fixed input row ``x``:
        ``Var[y_i] = p / (1 - p) * sum_j (W_ij x_j)^2`` (independent Bernoulli masks)."""
        return self.p / (1.0 - self.p) * (self.weight * x).square().sum(-1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"

