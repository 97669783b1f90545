"""Batch norm over the global batch of a data-parallel run on CPU, by all-reducing the batch moments.

torch's ``nn.SyncBatchNorm`` runs only on CUDA/XPU. On CPU each rank r holds ``b_r`` of the batch's ``B``
examples; per channel, over the ``n = sum_r n_r`` values of the whole batch (examples x positions)::

    mu      = (1/n) sum_r sum_{x in r} x                      (all-reduce of the sums and counts)
    sigma^2 = (1/n) sum_r sum_{x in r} (x - mu)^2             (all-reduce again: two passes, as torch's CPU
                                                               batch norm, so no cancellation)
    y       = gamma (x - mu) / sqrt(sigma^2 + eps) + beta
    running_mean <- (1 - m) running_mean + m mu,   running_var <- (1 - m) running_var + m sigma^2 n / (n - 1)

The all-reduce is differentiable (:class:`AllReduceSum`): its backward all-reduces the gradient of the
sums, so ``dJ/dx`` includes every rank's examples' dependence on mu and sigma^2, and the gradients equal the
1-process run's. In evaluation mode (or outside a process group) it is plain batch norm. The state dict is
``nn.BatchNorm*d``'s, so checkpoints load into either.

>>> bn = MomentBatchNorm(3)
>>> x = torch.randn(8, 3)
>>> torch.allclose(bn(x), nn.functional.batch_norm(x, None, None, training=True))  # one process
True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn


class AllReduceSum(torch.autograd.Function):
    """``y = sum_r x_r`` on every rank; backward ``dx_r = sum_r dy_r`` (every rank's loss depends on y)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        y = x.clone()
        dist.all_reduce(y, group=group)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor, None]:
        dx = dy.clone()
        dist.all_reduce(dx, group=ctx.group)
        return dx, None


class _Shared:
    """The process group, held by reference: copies of the model (snapshots, EMA) share it."""

    def __init__(self, group: Any) -> None:
        self.group = group

    def __deepcopy__(self, memo: dict) -> _Shared:
        return self


def all_reduce(x: torch.Tensor, group: Any = None) -> torch.Tensor:
    """The sum of ``x`` over the ranks of ``group``, differentiably (:class:`AllReduceSum`)."""
    return AllReduceSum.apply(x, group)


class MomentBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm (1-d or 2-d input layout) whose training moments are those of the global batch."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, group: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.shared = _Shared(group)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"invalid input dimension {x.dim()}: must be at least 2 (N, C, ...)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        local = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), local]), group=self.shared.group)
        n = sums[-1].detach()
        mu = sums[:-1] / n
        centered = x - mu.reshape(shape)
        var = all_reduce(centered.pow(2).sum(dims), group=self.shared.group) / n
        if self.track_running_stats:
            self._update_running(mu.detach(), var.detach(), float(n))
        y = centered / torch.sqrt(var.reshape(shape) + self.eps)
        return y * self.weight.reshape(shape) + self.bias.reshape(shape) if self.affine else y

    @torch.no_grad()
    def _update_running(self, mu: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - m).add_(mu, alpha=m)
        self.running_var.mul_(1 - m).add_(var * n / max(n - 1, 1), alpha=m)


def convert(module: nn.Module, group: Any = None) -> nn.Module:
    """``module`` with every ``BatchNorm1d/2d`` replaced by a :class:`MomentBatchNorm` holding its state."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        synced = MomentBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats, group)
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            setattr(synced, name, tensor)  # the same tensors: an optimizer built on the model still holds them
        return synced
    for name, child in module.named_children():
        module.add_module(name, convert(child, group))
    return module
