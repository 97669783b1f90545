r"""The largest Hessian eigenvalues by the Lanczos iteration (Lanczos, 1950), from Hessian-vector products.

Starting from a unit vector :math:`q_1`, Lanczos builds an orthonormal basis :math:`Q_m = [q_1 \dots q_m]` of
the Krylov space :math:`\mathrm{span}\{q_1, H q_1, \dots, H^{m-1} q_1\}` in which :math:`H` is tridiagonal:

.. math::

    w = H q_j - \beta_{j-1} q_{j-1}, \quad \alpha_j = q_j^\top w, \quad
    w \leftarrow w - \alpha_j q_j, \quad \beta_j = \lVert w \rVert, \quad q_{j+1} = w / \beta_j,

    T_m = Q_m^\top H Q_m = \mathrm{tridiag}(\beta, \alpha, \beta).

The eigenpairs :math:`(\theta_i, y_i)` of the small :math:`T_m` give Ritz pairs :math:`(\theta_i, Q_m y_i)`;
the extreme ones converge first. The residual of a Ritz pair is known without another product,
:math:`\lVert H Q_m y_i - \theta_i Q_m y_i \rVert = \beta_m |e_m^\top y_i|`, and for a symmetric matrix an
eigenvalue lies within that distance of :math:`\theta_i` (within its square over the gap, in fact). We stop
when the k largest Ritz values have residuals below ``tol`` times their size. In floating point the
:math:`q_j` lose orthogonality as Ritz values converge, so each :math:`w` is re-orthogonalized against all of
:math:`Q_m` (twice: "twice is enough"), which costs memory ``m x dim`` but no extra products.

If :math:`\beta_j` vanishes the Krylov space is invariant: its Ritz values are exact eigenvalues, and the
iteration continues from a fresh random vector orthogonal to :math:`Q_m` (a zero entry in :math:`T`).

:func:`top_eigenvalues` also offers power iteration with deflation (:mod:`descent.hessian.power`), which
finds the largest eigenvalues in magnitude and needs many more products. PyHessian and the paper of Cohen et
al. (2021) use Lanczos or power iteration the same way; this code is written from the equations above.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .. import checks
from .hvp import Counted, HessianOperator, LossFn
from .power import power_iteration


def lanczos(operator: HessianOperator, steps: int, start: torch.Tensor | None = None,
            generator: torch.Generator | None = None, k: int | None = None,
            tol: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Up to ``steps`` Lanczos steps; returns ``alpha`` (m), ``beta`` (m - 1) and the basis ``Q`` (m x dim).

    With ``k``, stop early once the k largest Ritz values have relative residuals below ``tol``.

    >>> import torch
    >>> A = torch.diag(torch.tensor([3.0, 1.0, -2.0], dtype=torch.float64))
    >>> x = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> alpha, beta, Q = lanczos(HessianOperator(lambda: 0.5 * x @ A @ x, [x]), steps=3,
    ...                          generator=torch.Generator().manual_seed(0))
    >>> [round(v, 9) for v in torch.linalg.eigvalsh(tridiagonal(alpha, beta)).tolist()]
    [-2.0, 1.0, 3.0]
    """
    steps = min(checks.positive_int("steps", steps), operator.dim)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    q = operator.random(generator, "gaussian") if start is None else start.to(operator.dtype).clone()
    q = q / q.norm()
    basis: list[torch.Tensor] = [q]
    alpha: list[float] = []
    beta: list[float] = []
    scale = 0.0
    for j in range(steps):
        w = operator(basis[j])
        Q = torch.stack(basis)
        alpha.append(float(basis[j] @ w))
        for _ in range(2):  # full re-orthogonalization, twice
            w = w - Q.T @ (Q @ w)
        b = float(w.norm())
        scale = max(scale, abs(alpha[-1]), b)
        if k is not None and tol > 0 and _converged(alpha, beta, b, k, tol):
            break
        if j == steps - 1:
            break
        if b <= 1e-10 * max(scale, 1e-30):  # an invariant subspace: restart orthogonally, T gets a zero
            w = operator.random(generator, "gaussian")
            for _ in range(2):
                w = w - Q.T @ (Q @ w)
            b_next, b = float(w.norm()), 0.0
            w = w / b_next
        else:
            w = w / b
        beta.append(b)
        basis.append(w)
    dtype = operator.dtype
    return (torch.tensor(alpha, dtype=dtype), torch.tensor(beta, dtype=dtype), torch.stack(basis[: len(alpha)]))


def tridiagonal(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """The symmetric tridiagonal matrix with ``alpha`` on the diagonal and ``beta`` beside it."""
    return torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)


def _converged(alpha: list[float], beta: list[float], b: float, k: int, tol: float) -> bool:
    if len(alpha) < k:
        return False
    theta, y = torch.linalg.eigh(tridiagonal(torch.tensor(alpha, dtype=torch.float64),
                                             torch.tensor(beta, dtype=torch.float64)))
    top = slice(len(alpha) - k, len(alpha))
    residual = b * y[-1, top].abs()
    return bool((residual <= tol * theta[top].abs().clamp_min(1e-30)).all())


def top_eigenvalues(loss_fn: LossFn | HessianOperator, params: Iterable[torch.Tensor] = (), k: int = 1,
                    method: str = "lanczos", tol: float = 1e-6, max_iter: int = 200,
                    seed: int = 0) -> Counted:
    """The ``k`` largest eigenvalues of the Hessian of ``loss_fn()`` (descending) and their eigenvectors.

    Returns ``(values, vectors)``: ``values`` a 1-D tensor of k, ``vectors`` a ``k x dim`` tensor of unit
    rows (flat, in ``params`` order); ``.hvps`` is the number of Hessian-vector products used.
    ``method``: ``"lanczos"`` (the largest algebraic eigenvalues; ``max_iter`` Lanczos steps at most) or
    ``"power"`` (power iteration with deflation: the largest in magnitude; ``max_iter`` products per
    eigenvalue at most). ``tol``: relative residual at which an eigenvalue counts as converged.
    A :class:`HessianOperator` may be given instead of ``loss_fn`` and ``params``.

    >>> import torch
    >>> w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> A = torch.tensor([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]], dtype=torch.float64)
    >>> values, vectors = top_eigenvalues(lambda: 0.5 * w @ A @ w, [w], k=2)
    >>> [round(v, 6) for v in values.tolist()], vectors.shape
    ([5.0, 3.0], torch.Size([2, 3]))
    """
    k = checks.positive_int("k", k)
    checks.one_of("method", method, ("lanczos", "power"))
    checks.positive("tol", tol)
    max_iter = checks.positive_int("max_iter", max_iter)
    operator = loss_fn if isinstance(loss_fn, HessianOperator) else HessianOperator(loss_fn, params)
    if k > operator.dim:
        raise checks.invalid("k", k, f"at most the number of parameters ({operator.dim})")
    generator = torch.Generator().manual_seed(seed)
    before = operator.hvps
    if method == "power":
        values, vectors = power_iteration(operator, k, tol=tol, max_iter=max_iter, generator=generator)
        return Counted((values, vectors), operator.hvps - before)
    alpha, beta, Q = lanczos(operator, max(max_iter, k), generator=generator, k=k, tol=tol)
    theta, y = torch.linalg.eigh(tridiagonal(alpha, beta))
    order = torch.argsort(theta, descending=True)[:k]
    vectors = (Q.T @ y[:, order]).T
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    return Counted((theta[order], vectors), operator.hvps - before)
