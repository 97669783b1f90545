r"""The largest-magnitude Hessian eigenvalues by power iteration with deflation (von Mises, 1929).

For the i-th eigenvalue, with the converged unit eigenvectors :math:`u_1, \dots, u_{i-1}` projected out,

.. math::

    P = I - \sum_{j<i} u_j u_j^\top, \qquad
    v \leftarrow \frac{P H P v}{\lVert P H P v \rVert}, \qquad \lambda = v^\top H v,

until the relative change of :math:`\lambda` falls below ``tol``. The iteration converges like
:math:`|\lambda_{i+1} / \lambda_i|^t`: slowly when the top eigenvalues are close, which is why
:func:`descent.hessian.top_eigenvalues` defaults to Lanczos. It finds the eigenvalues of largest magnitude: a
negative eigenvalue larger in magnitude than the top positive one is found first (at a saddle point).
"""

from __future__ import annotations

import torch

from .hvp import HessianOperator


def power_iteration(operator: HessianOperator, k: int = 1, tol: float = 1e-6, max_iter: int = 1000,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` eigenvalues of largest magnitude (ordered by value, descending) and their unit eigenvectors.

    >>> import torch
    >>> x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> d = torch.tensor([4.0, 1.0, 0.5], dtype=torch.float64)
    >>> values, _ = power_iteration(HessianOperator(lambda: 0.5 * (d * x * x).sum(), [x]), k=2, tol=1e-12)
    >>> [round(v, 6) for v in values.tolist()]
    [4.0, 1.0]
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    found: list[torch.Tensor] = []
    values: list[float] = []

    def deflate(v: torch.Tensor) -> torch.Tensor:
        for u in found:
            v = v - (u @ v) * u
        return v

    for _ in range(k):
        v = deflate(operator.random(generator, "gaussian"))
        v = v / v.norm()
        value = 0.0
        for _ in range(max_iter):
            w = deflate(operator(v))
            new_value = float(v @ w)
            norm = w.norm()
            if norm == 0:  # v lies in the null space of the deflated operator
                value = 0.0
                break
            v = w / norm
            if abs(new_value - value) <= tol * abs(new_value):
                value = new_value
                break
            value = new_value
        found.append(v)
        values.append(value)
    order = sorted(range(k), key=lambda i: -values[i])
    return (torch.tensor([values[i] for i in order], dtype=operator.dtype),
            torch.stack([found[i] for i in order]))
