r"""Newton's method with Levenberg damping and Armijo backtracking, for full-batch problems (step(closure)).

At iterate x with gradient g and Hessian H of the closure's loss f:

.. math::
    (H + \lambda I)\, d = -g, \qquad x \leftarrow x + t\, d,

where t is the first of lr, lr * shrink, lr * shrink^2, ... with a finite loss and (Armijo)
:math:`f(x + t d) \le f(x) + c_1 t\, g^\top d`. Two ways to get d (``mode``):

* ``'exact'``: H = ``torch.func.hessian`` (jacfwd over jacrev) of the flattened parameters, then a Cholesky
  solve. Levenberg damping: :math:`\lambda` starts at ``damping`` and grows tenfold until
  :math:`H + \lambda I` is positive definite, so an indefinite H (a saddle, a non-convex region) still
  gives a descent direction.
* ``'cg'``: Newton-CG (truncated conjugate gradient, Nocedal and Wright Algorithm 7.1) with Hessian-vector
  products :math:`Hv` by forward-over-reverse differentiation, ``torch.func.jvp`` of ``torch.func.grad``;
  the CG stops at the forcing tolerance :math:`\min(0.5, \sqrt{\|g\|})\|g\|` or at negative curvature.
  It never forms H: memory O(n).
* ``'auto'`` (default): exact up to ``max_exact_params`` parameters (and ``max_hessian_bytes``), else CG.

Defaults: lr=1 (the full Newton step is tried first), max_iter=1 iteration per ``step``, damping=1e-8,
c1=1e-4, shrink=0.5, max_line_search=30, tolerance_grad=1e-12 (max-norm), max_exact_params=2000,
max_hessian_bytes=1 GiB. A failed line search (no decrease in max_line_search halvings) leaves the parameters
unchanged. torch.optim has no Newton method; SciPy's ``minimize(method='Newton-CG')`` is the CG mode.

References: Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Sections 3.4 and 7.1;
K. Levenberg, "A method for the solution of certain non-linear problems in least squares", 1944.
"""

from __future__ import annotations

import math

import torch

from .. import checks
from ._fullbatch import Closure, flat_params, functional_loss, loss_and_grad, require_closure, set_params
from .linesearch import backtracking

MODES = ("auto", "exact", "cg")


class Newton(torch.optim.Optimizer):
    """Damped Newton's method (exact Hessian or Newton-CG) with Armijo backtracking; see the module doc.

    >>> import torch
    >>> w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    >>> opt = Newton([w])
    >>> def closure():  # a quadratic: one Newton step lands on its minimum (1, -2)
    ...     opt.zero_grad()
    ...     loss = (w[0] - 1) ** 2 + 10 * (w[1] + 2) ** 2
    ...     loss.backward()
    ...     return loss
    >>> loss_before = opt.step(closure)
    >>> [round(x, 4) for x in w.tolist()], opt.state[w]["mode"], opt.state[w]["t"]
    ([1.0, -2.0], 'exact', 1.0)
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 1, mode: str = "auto", damping: float = 1e-8,
                 c1: float = 1e-4, shrink: float = 0.5, max_line_search: int = 30,
                 tolerance_grad: float = 1e-12, max_exact_params: int = 2000,
                 max_hessian_bytes: int = 2**30, cg_max_iter: int | None = None):
        mode = checks.one_of("mode", mode, MODES)
        lr = checks.positive("lr", lr)
        damping = checks.nonnegative("damping", damping)
        c1 = checks.in_unit_interval("c1", c1, open_low=True)
        shrink = checks.in_unit_interval("shrink", shrink, open_low=True)
        tolerance_grad = checks.nonnegative("tolerance_grad", tolerance_grad)
        max_iter = checks.positive_int("max_iter", max_iter)
        max_line_search = checks.positive_int("max_line_search", max_line_search)
        max_exact_params = checks.positive_int("max_exact_params", max_exact_params)
        max_hessian_bytes = checks.positive_int("max_hessian_bytes", max_hessian_bytes)
        if cg_max_iter is not None:
            cg_max_iter = checks.positive_int("cg_max_iter", cg_max_iter)
        defaults = dict(lr=lr, max_iter=max_iter, mode=mode, damping=damping, c1=c1, shrink=shrink,
                        max_line_search=max_line_search, tolerance_grad=tolerance_grad,
                        max_exact_params=max_exact_params, max_hessian_bytes=max_hessian_bytes,
                        cg_max_iter=cg_max_iter)
        super().__init__(params, defaults)

    def _mode(self, hyper: dict, n: int, itemsize: int) -> str:
        hessian_bytes = n * n * itemsize
        fits = hessian_bytes <= hyper["max_hessian_bytes"]
        if hyper["mode"] == "exact" and not fits:
            raise ValueError(f"invalid mode='exact' for {n} parameters: their Hessian needs "
                             f"{hessian_bytes / 2**30:.1f} GiB "
                             f"(max_hessian_bytes={hyper['max_hessian_bytes']}); use mode='cg' (Newton-CG with "
                             "Hessian-vector products, O(n) memory)")
        if hyper["mode"] == "auto":
            return "exact" if fits and n <= hyper["max_exact_params"] else "cg"
        return hyper["mode"]

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor:  # type: ignore[override]
        """Up to max_iter damped Newton iterations; returns the loss at the start of the step."""
        closure = require_closure(closure, "Newton")
        hyper = self.param_groups[0]  # hyperparameters of the first group apply to the whole vector x
        params = [p for group in self.param_groups for p in group["params"]]
        state = self.state[params[0]]
        f = functional_loss(closure, params, "Newton")
        x = flat_params(params)
        mode = self._mode(hyper, x.numel(), x.element_size())
        first_loss = None
        for _ in range(hyper["max_iter"]):
            # An ordinary closure call for f and g, so its side effects (a trainer keeping the loss) see plain
            # tensors; only the Hessian (or Hv) and the line search's values go through f(x).
            loss, g = loss_and_grad(closure, params, "Newton")
            first_loss = loss if first_loss is None else first_loss
            if not math.isfinite(loss) or float(g.abs().max()) <= hyper["tolerance_grad"]:
                break
            if mode == "exact":
                d, damping = exact_direction(f, x, g, hyper["damping"])
            else:
                damping = hyper["damping"]
                d = cg_direction(f, x, g, damping, hyper["cg_max_iter"] or x.numel())
            found = backtracking(lambda t, x=x, d=d: float(f(x + t * d)), loss, float(g.dot(d)), hyper["lr"],
                                 c1=hyper["c1"], shrink=hyper["shrink"], max_evals=hyper["max_line_search"])
            state["n_iter"] = state.get("n_iter", 0) + 1
            state.update(mode=mode, damping=damping, t=found.t, line_search_evals=found.evals)
            if not found.ok:  # the parameters were never written: they stay at the last good x
                break
            x = x + found.t * d
            set_params(params, x)
        return torch.tensor(first_loss)


def exact_direction(f, x: torch.Tensor, g: torch.Tensor, damping: float) -> tuple[torch.Tensor, float]:
    """Solve (H + lambda I) d = -g by Cholesky; lambda grows tenfold until H + lambda I is pos. definite."""
    with torch.enable_grad():
        H = torch.func.jacfwd(torch.func.jacrev(f))(x)
    H = 0.5 * (H + H.T)  # symmetric up to rounding; make it exactly so for Cholesky
    eye = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    lam = damping  # lambda
    floor = 1e-10 * max(1.0, float(H.diagonal().abs().max()))
    for _ in range(60):
        L, not_positive_definite = torch.linalg.cholesky_ex(H + lam * eye)
        if int(not_positive_definite) == 0:
            return torch.cholesky_solve(-g.unsqueeze(1), L).squeeze(1), lam
        lam = max(10.0 * lam, floor)
    return -g, math.inf  # H is not finite: fall back to steepest descent


def hessian_vector_product(f, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """H v by forward-over-reverse: the directional derivative (jvp) of grad f along v."""
    with torch.enable_grad():
        return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]


def cg_direction(f, x: torch.Tensor, g: torch.Tensor, damping: float, max_iter: int) -> torch.Tensor:
    """Newton-CG (N&W Algorithm 7.1): CG on (H + damping I) d = -g, truncated at negative curvature."""
    g_norm = float(g.norm())
    tolerance = min(0.5, math.sqrt(g_norm)) * g_norm
    z = torch.zeros_like(g)  # the iterate, N&W's z_j
    r, p = g.clone(), -g  # residual B z + g, search direction
    residual_sq = float(r.dot(r))
    for j in range(max_iter):
        Bp = hessian_vector_product(f, x, p) + damping * p
        curvature = float(p.dot(Bp))
        if not curvature > 0:  # negative curvature (or NaN): stop; the first iteration falls back to -g
            return -g if j == 0 else z
        alpha = residual_sq / curvature
        z = z + alpha * p
        r = r + alpha * Bp
        new_residual_sq = float(r.dot(r))
        if math.sqrt(new_residual_sq) < tolerance:
            break
        p = -r + (new_residual_sq / residual_sq) * p
        residual_sq = new_residual_sq
    return z
