"""Shared test problems: a fixed float64 quadratic over several tensors, run by torch and by NumPy."""

from __future__ import annotations

import numpy as np
import torch

from descent.optim.registry import DESCENT_ONLY, OPTIMIZERS

FIRST_ORDER = [name for name, e in OPTIMIZERS.items() if not e.closure]
CONFIGS = [(name, label, kw) for name in FIRST_ORDER for label, kw in OPTIMIZERS[name].configs]
TWIN_CONFIGS = [c for c in CONFIGS if not DESCENT_ONLY & set(c[2])]


def quadratic(dim: int = 6, seed: int = 0, condition: float = 10.0) -> np.ndarray:
    """A symmetric positive definite matrix with eigenvalues from 1 to ``condition``."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q @ np.diag(np.geomspace(1.0, condition, dim)) @ q.T


A = quadratic()
SHAPES = [(6,), (2, 6), (6, 1)]  # every tensor's flattened values w: loss = sum_i 0.5 w_i^T A w_i over chunks


def make_params(dtype=torch.float64, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_() for s in SHAPES]


def loss_of(params: list[torch.Tensor]) -> torch.Tensor:
    a = torch.as_tensor(A, dtype=params[0].dtype)
    total = 0.0
    for p in params:
        w = p.reshape(-1, 6)
        total = total + 0.5 * ((w @ a) * w).sum() + 0.1 * torch.sin(w).sum()
    return total


def numpy_grad(x: np.ndarray) -> np.ndarray:
    """The gradient of :func:`loss_of` over all tensors' values, flattened in order."""
    w = x.reshape(-1, 6)
    return (w @ A + 0.1 * np.cos(w)).reshape(-1)


def run(opt, params: list[torch.Tensor], steps: int, lrs=None) -> list[torch.Tensor]:
    for t in range(1, steps + 1):
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = lrs(t)
        opt.zero_grad()
        loss_of(params).backward()
        opt.step()
    return [p.detach().clone() for p in params]


def rel_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    num = max((x.double() - y.double()).abs().max().item() for x, y in zip(a, b, strict=True))
    return num / max(y.double().abs().max().item() for y in b)
