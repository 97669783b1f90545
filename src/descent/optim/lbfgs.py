r"""Limited-memory BFGS with a strong-Wolfe line search, for full-batch problems (``step(closure)``).

At iterate :math:`x_k` with gradient :math:`g_k` and the last m pairs
:math:`s_i = x_{i+1} - x_i,\ y_i = g_{i+1} - g_i,\ \rho_i = 1 / y_i^\top s_i`, the direction is
:math:`d_k = -H_k g_k`, where :math:`H_k` is the BFGS inverse-Hessian approximation

.. math::
    H_{i+1} = (I - \rho_i s_i y_i^\top) H_i (I - \rho_i y_i s_i^\top) + \rho_i s_i s_i^\top,
    \qquad H^0_k = \gamma_k I,\ \gamma_k = \frac{s_{k-1}^\top y_{k-1}}{y_{k-1}^\top y_{k-1}},

applied in O(mn) by the two-loop recursion (:func:`two_loop`; :func:`dense_inverse_hessian` is the slow,
explicit matrix beside it). Then :math:`x_{k+1} = x_k + t_k d_k` with t_k from the strong-Wolfe search of
:mod:`descent.optim.linesearch` (``line_search_fn='strong_wolfe'``) or the fixed step t_k = lr. A pair is
stored only if :math:`y^\top s > 10^{-10}` (curvature condition), so H stays positive definite.

Defaults and argument names follow ``torch.optim.LBFGS`` (lr=1, max_iter=20, max_eval=max_iter*5/4,
tolerance_grad=1e-7, tolerance_change=1e-9, history_size=100, line_search_fn=None); without a line search
the iterates are torch's, and as in torch the last fixed step of a call is evaluated by the next call (the
pair (s, y) formed there), so ``max_iter=1`` (one step per call, max_eval=1) moves. Differences: max_eval
also bounds the evaluations inside the line search;
the first trial step of the strong-Wolfe search has unit length, ``lr / |g|_2``, as in SciPy's L-BFGS-B; several
param groups are accepted (their parameters form one vector x; the groups must share these hyperparameters);
a failed line search, or a NaN/Inf loss, restores the parameters to the last good iterate and ends the step.
SciPy's ``L-BFGS-B`` and Optax's ``scale_by_lbfgs`` are the same method.

Reference: D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale optimization", 1989;
Nocedal and Wright, *Numerical Optimization*, 2nd ed., 2006, Algorithms 7.4 and 7.5.
"""

from __future__ import annotations

import math

import torch

from .. import checks
from ._fullbatch import Closure, flat_params, loss_and_grad, require_closure, set_params
from .linesearch import strong_wolfe

_HYPER = ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size",
          "line_search_fn")


def two_loop(g: torch.Tensor, s_hist: list[torch.Tensor], y_hist: list[torch.Tensor],
             rho_hist: list[float]) -> torch.Tensor:
    """d = -H g by the two-loop recursion (N&W Algorithm 7.4), oldest pair first in the lists."""
    q = g.neg()
    alphas = []
    for s, y, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rho_hist), strict=True):
        alpha = rho * float(s.dot(q))
        q.add_(y, alpha=-alpha)
        alphas.append(alpha)
    if s_hist:
        q.mul_(float(s_hist[-1].dot(y_hist[-1])) / float(y_hist[-1].dot(y_hist[-1])))
    for s, y, rho, alpha in zip(s_hist, y_hist, rho_hist, reversed(alphas), strict=True):
        beta = rho * float(y.dot(q))
        q.add_(s, alpha=alpha - beta)
    return q


def dense_inverse_hessian(n: int, s_hist, y_hist, dtype=torch.float64) -> torch.Tensor:
    """The slow reference: the n x n BFGS matrix H built by the explicit update from H0 = gamma I."""
    eye = torch.eye(n, dtype=dtype)
    if not s_hist:
        return eye
    s_last, y_last = s_hist[-1].to(dtype), y_hist[-1].to(dtype)
    H = float(s_last.dot(y_last) / y_last.dot(y_last)) * eye
    for s, y in zip(s_hist, y_hist, strict=True):
        s, y = s.to(dtype), y.to(dtype)
        rho = 1.0 / float(y.dot(s))
        V = eye - rho * torch.outer(y, s)
        H = V.T @ H @ V + rho * torch.outer(s, s)
    return H


def first_step_scale(g: torch.Tensor, line_search_fn: str | None) -> float:
    """Scale of the very first trial step along ``-g``: ``min(1, 1/|g|_1)`` without a line search
    (torch.optim.LBFGS), ``1/|g|_2`` (a step of unit length, SciPy's L-BFGS-B) before the strong-Wolfe search."""
    if line_search_fn is None:
        return min(1.0, 1.0 / float(g.abs().sum()))
    return 1.0 / float(g.norm())


class LBFGS(torch.optim.Optimizer):
    """Limited-memory BFGS (two-loop recursion), optional strong-Wolfe line search; see the module doc.

    >>> import torch
    >>> w = torch.zeros(2, requires_grad=True)
    >>> opt = LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():  # an ill-conditioned quadratic with its minimum at (1, -2)
    ...     opt.zero_grad()
    ...     loss = (w[0] - 1) ** 2 + 10 * (w[1] + 2) ** 2
    ...     loss.backward()
    ...     return loss
    >>> loss_before = opt.step(closure)  # up to max_iter=20 iterations
    >>> [round(x, 4) for x in w.tolist()], float(loss_before)
    ([1.0, -2.0], 41.0)
    """

    def __init__(self, params, lr: float = 1.0, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        lr = checks.positive("lr", lr)
        max_iter = checks.positive_int("max_iter", max_iter)
        max_eval = checks.positive_int("max_eval", max_iter * 5 // 4 if max_eval is None else max_eval)
        history_size = checks.positive_int("history_size", history_size)
        tolerance_grad = checks.nonnegative("tolerance_grad", tolerance_grad)
        tolerance_change = checks.nonnegative("tolerance_change", tolerance_change)
        line_search_fn = checks.one_of("line_search_fn", line_search_fn, (None, "strong_wolfe"))
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size,
                        line_search_fn=line_search_fn)
        super().__init__(params, defaults)

    def _hyper(self) -> dict:
        first = self.param_groups[0]
        for i, group in enumerate(self.param_groups[1:], start=1):
            for name in _HYPER:
                if group[name] != first[name]:
                    raise checks.invalid(name, group[name], f"the same in every param group (LBFGS steps them "
                                         f"as one vector): group 0 has {name}={first[name]!r}, group {i} differs")
        return {name: first[name] for name in _HYPER}

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> torch.Tensor:  # type: ignore[override]
        """Up to max_iter iterations; returns the loss at the start of the step (as torch.optim.LBFGS)."""
        closure = require_closure(closure, "LBFGS")
        hyper = self._hyper()
        params = [p for group in self.param_groups for p in group["params"]]
        state = self.state[params[0]]
        state.setdefault("n_iter", 0)
        state.setdefault("func_evals", 0)
        s_hist, y_hist, rho_hist = (state.setdefault(k, []) for k in ("s_hist", "y_hist", "rho_hist"))

        def evaluate() -> tuple[float, torch.Tensor]:
            return loss_and_grad(closure, params, "LBFGS")

        loss, g = evaluate()
        evals, first_loss = 1, loss
        x = flat_params(params)
        pending = state.pop("pending", None)
        if pending is not None:  # the previous call's last fixed step, not evaluated there (as torch)
            if not math.isfinite(loss):  # it went too far: back to the iterate before it
                set_params(params, pending["x"])
                state["func_evals"] += evals
                return torch.tensor(first_loss, dtype=params[0].dtype)
            _remember(pending["s"], g - pending["g"], s_hist, y_hist, rho_hist, hyper["history_size"])
        last_trial = [None]  # the step t at which the parameters were last written
        for iteration in range(1, hyper["max_iter"] + 1):
            if not math.isfinite(loss) or float(g.abs().max()) <= hyper["tolerance_grad"]:
                break
            state["n_iter"] += 1
            d = two_loop(g, s_hist, y_hist, rho_hist)
            slope = float(g.dot(d))  # phi'(0), the directional derivative along d
            if slope > -hyper["tolerance_change"]:
                break
            t = hyper["lr"]
            if state["n_iter"] == 1:  # the first direction is -g: scale its first trial step
                t *= first_step_scale(g, hyper["line_search_fn"])
            fixed = hyper["line_search_fn"] is None
            if fixed and iteration == hyper["max_iter"]:
                # the last iteration of a fixed step needs no evaluation: torch's LBFGS moves and evaluates at
                # the next call, so max_iter=1 (max_eval=1) still moves. The pair (s, y) is formed then.
                set_params(params, x + t * d)
                state["pending"] = {"x": x, "g": g, "s": t * d}
                break
            budget = hyper["max_eval"] - evals
            if budget <= 0:
                break
            if hyper["line_search_fn"] == "strong_wolfe":

                def phi(t: float, x=x, d=d) -> tuple[float, torch.Tensor]:
                    last_trial[0] = t
                    set_params(params, x + t * d)
                    return evaluate()

                found = strong_wolfe(phi, loss, g, d, t, max_evals=budget,
                                     tolerance_change=hyper["tolerance_change"])
                evals += found.evals
                ok, t, new_loss, new_g = found.ok, found.t, found.f, found.g
            else:
                last_trial[0] = t
                set_params(params, x + t * d)
                new_loss, new_g = evaluate()
                evals += 1
                ok = math.isfinite(new_loss)
            if not ok:  # no acceptable step: back to the last good iterate
                set_params(params, x)
                break
            new_x = x + t * d
            if last_trial[0] != t:  # the search ended on an earlier trial than its last evaluation
                set_params(params, new_x)
            s = new_x - x
            _remember(s, new_g - g, s_hist, y_hist, rho_hist, hyper["history_size"])
            x, g, loss, previous_loss = new_x, new_g, new_loss, loss
            if evals >= hyper["max_eval"] or float(g.abs().max()) <= hyper["tolerance_grad"]:
                break
            small_change = abs(loss - previous_loss) < hyper["tolerance_change"]
            if float(s.abs().max()) <= hyper["tolerance_change"] or small_change:
                break
        state["func_evals"] += evals
        return torch.tensor(first_loss, dtype=params[0].dtype)


def _remember(s: torch.Tensor, y: torch.Tensor, s_hist: list, y_hist: list, rho_hist: list, size: int) -> None:
    """Store the pair (s, y) if it has curvature y's > 1e-10 (so H stays positive definite), the oldest
    dropped beyond ``size`` pairs."""
    curvature = float(y.dot(s))
    if curvature > 1e-10:
        s_hist.append(s)
        y_hist.append(y)
        rho_hist.append(1.0 / curvature)
        if len(s_hist) > size:
            del s_hist[0], y_hist[0], rho_hist[0]
