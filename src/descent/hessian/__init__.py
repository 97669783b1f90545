"""Curvature of any model's loss from Hessian-vector products, never the dense Hessian.

* :func:`top_eigenvalues`: the k largest eigenvalues and eigenvectors (Lanczos, or power iteration);
* :func:`trace`: Hutchinson's estimate of the trace and its standard error;
* :func:`density`: the eigenvalue density by stochastic Lanczos quadrature, for a spectrum plot;
* :class:`HessianOperator`: ``v -> H v`` with a count of the products, shared by the three.

Each result says how many Hessian-vector products it used (``.hvps``).
"""

from .density import Density, density
from .hvp import Counted, HessianOperator, flatten, hvp, trainable, unflatten
from .lanczos import lanczos, top_eigenvalues, tridiagonal
from .power import power_iteration
from .trace import trace

__all__ = ["Counted", "Density", "HessianOperator", "density", "flatten", "hvp", "lanczos", "power_iteration",
           "top_eigenvalues", "trace", "trainable", "tridiagonal", "unflatten"]
