r"""Hutchinson's estimate of the Hessian's trace, with its standard error (Hutchinson, 1990).

For a random vector :math:`z` with independent Rademacher entries (:math:`\pm 1`, each with probability 1/2),
:math:`\mathbb{E}[z z^\top] = I`, so :math:`\mathbb{E}[z^\top H z] = \mathrm{tr}(H)`. With :math:`m` probes,

.. math::

    \widehat{\mathrm{tr}} = \frac{1}{m} \sum_{i=1}^m z_i^\top H z_i, \qquad
    \mathrm{SE} = \frac{s}{\sqrt{m}}, \quad s^2 = \frac{1}{m-1} \sum_i (z_i^\top H z_i - \widehat{\mathrm{tr}})^2.

Rademacher probes have the smallest variance of all such estimators, :math:`2 \sum_{i \ne j} H_{ij}^2` per
probe (Gaussian probes add :math:`2 \sum_i H_{ii}^2`), so a strongly diagonal Hessian is estimated well with
few probes. One Hessian-vector product per probe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from .. import checks
from .hvp import Counted, HessianOperator, LossFn


def trace(loss_fn: LossFn | HessianOperator, params: Iterable[torch.Tensor] = (), probes: int = 100,
          seed: int = 0) -> Counted:
    """Hutchinson's estimate of ``tr(H)`` and its standard error, as a pair of floats (``.hvps`` = probes).

    >>> import torch
    >>> x = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    >>> estimate, stderr = trace(lambda: (torch.arange(1.0, 5.0, dtype=torch.float64) * x * x).sum(), [x])
    >>> estimate, stderr  # H = diag(2, 4, 6, 8): every Rademacher probe gives the trace exactly
    (20.0, 0.0)
    """
    probes = checks.positive_int("probes", probes)
    if probes < 2:
        raise checks.invalid("probes", probes, "at least 2 (the standard error needs two samples)")
    operator = loss_fn if isinstance(loss_fn, HessianOperator) else HessianOperator(loss_fn, params)
    generator = torch.Generator().manual_seed(seed)
    before = operator.hvps
    samples = []
    for _ in range(probes):
        z = operator.random(generator, "rademacher")
        samples.append(float(z @ operator(z)))
    values = torch.tensor(samples, dtype=torch.float64)
    return Counted((float(values.mean()), float(values.std(unbiased=True)) / math.sqrt(probes)),
                   operator.hvps - before)
