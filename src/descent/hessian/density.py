r"""The Hessian's eigenvalue density by stochastic Lanczos quadrature (Ubaru, Chen & Saad, 2017; Lin, Saad &
Yang, "Approximating spectral densities of large matrices", 2016).

The spectral density of an :math:`n \times n` symmetric :math:`H` with eigenvalues :math:`\lambda_i`,
smoothed by a Gaussian of width :math:`\sigma`, is

.. math::

    \phi_\sigma(t) = \frac{1}{n} \sum_{i=1}^n g_\sigma(t - \lambda_i)
                   = \frac{1}{n} \mathrm{tr}\, g_\sigma(t I - H)
                   \approx \frac{1}{n_v} \sum_{l=1}^{n_v} v_l^\top g_\sigma(t I - H)\, v_l

for random unit vectors :math:`v_l` (Hutchinson with :math:`\mathbb{E}[n\, v v^\top] = I`). Each quadratic
form is a Gauss quadrature: :math:`m` Lanczos steps from :math:`v_l` give :math:`T_m = Y \Theta Y^\top`,
and :math:`v^\top f(H)\, v \approx \sum_{j=1}^m \tau_j f(\theta_j)` with nodes :math:`\theta_j` and weights
:math:`\tau_j = (e_1^\top y_j)^2`, exact for polynomials :math:`f` of degree up to :math:`2m - 1`. So

.. math::

    \phi_\sigma(t) \approx \frac{1}{n_v} \sum_{l=1}^{n_v} \sum_{j=1}^{m} \tau^{(l)}_j g_\sigma(t - \theta^{(l)}_j),

a density of total mass 1 (multiply by :math:`n` for a count of eigenvalues). Cost: :math:`n_v \times m`
Hessian-vector products.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .. import checks
from .hvp import HessianOperator, LossFn
from .lanczos import lanczos, tridiagonal


@dataclass(frozen=True)
class Density:
    """``grid`` and ``density`` (mass 1) for a plot; the quadrature ``nodes`` and ``weights`` (one row per
    random vector; each row of weights sums to 1); ``hvps`` products used; ``dim`` the number of parameters."""

    grid: torch.Tensor
    density: torch.Tensor
    nodes: torch.Tensor
    weights: torch.Tensor
    sigma: float
    hvps: int
    dim: int

    def moment(self, f) -> float:
        """The quadrature's estimate of ``(1/n) tr f(H)`` for a function ``f`` of a tensor of eigenvalues."""
        return float((self.weights * f(self.nodes)).sum(dim=1).mean())


def density(loss_fn: LossFn | HessianOperator, params: Iterable[torch.Tensor] = (), steps: int = 80,
            vectors: int = 1, points: int = 1000, sigma: float | None = None, seed: int = 0) -> Density:
    """The smoothed eigenvalue density of the Hessian of ``loss_fn()`` by stochastic Lanczos quadrature.

    ``steps`` Lanczos steps per random vector, ``vectors`` random vectors (Rademacher, normalized),
    ``points`` grid points spanning the nodes with a margin; ``sigma``: the Gaussian's width (default 1% of
    the spectrum's span).

    >>> import torch
    >>> x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    >>> d = torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0], dtype=torch.float64)
    >>> spectrum = density(lambda: 0.5 * (d * x * x).sum(), [x], steps=5, vectors=4)
    >>> round(spectrum.moment(lambda t: t), 6), round(spectrum.moment(lambda t: t ** 2), 6)  # tr H / n, tr H^2 / n
    (2.0, 4.8)
    """
    steps = checks.positive_int("steps", steps)
    vectors = checks.positive_int("vectors", vectors)
    points = checks.positive_int("points", points)
    operator = loss_fn if isinstance(loss_fn, HessianOperator) else HessianOperator(loss_fn, params)
    generator = torch.Generator().manual_seed(seed)
    before = operator.hvps
    m = min(steps, operator.dim)
    nodes = torch.zeros(vectors, m, dtype=torch.float64)
    weights = torch.zeros(vectors, m, dtype=torch.float64)
    for row in range(vectors):
        start = operator.random(generator, "rademacher")
        alpha, beta, _ = lanczos(operator, m, start=start, generator=generator)
        theta, y = torch.linalg.eigh(tridiagonal(alpha, beta).double())
        width = len(theta)  # fewer than m if the Krylov space closed early; the rest keep weight 0
        nodes[row, :width], weights[row, :width] = theta, y[0] ** 2
    low, high = float(nodes.min()), float(nodes.max())
    span = max(high - low, 1e-12 * max(abs(high), 1.0))
    sigma = checks.positive("sigma", sigma) if sigma is not None else 0.01 * span
    grid = torch.linspace(low - 0.05 * span - 3 * sigma, high + 0.05 * span + 3 * sigma, points,
                          dtype=torch.float64)
    gauss = torch.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    values = (gauss * weights[None]).sum(dim=2).mean(dim=1)
    return Density(grid, values, nodes, weights, sigma, operator.hvps - before, operator.dim)
