"""descent.optim.LBFGS against independent truth: torch.optim.LBFGS (fixed step), SciPy's minimizers, the
explicit BFGS matrix, closed-form quadratics, and the strong Wolfe conditions themselves."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen, rosen_der

from descent.optim.lbfgs import LBFGS, dense_inverse_hessian, two_loop
from descent.optim.linesearch import strong_wolfe
from descent.optim.newton import Newton


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def closure_for(opt, x, f, counter=None):
    def closure():
        if counter is not None:
            counter.append(1)
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    return closure


def test_two_loop_equals_the_explicit_bfgs_matrix():
    torch.manual_seed(0)
    n = 6
    M = torch.randn(n, n, dtype=torch.float64)
    A = M @ M.T + n * torch.eye(n, dtype=torch.float64)
    s_hist = [torch.randn(n, dtype=torch.float64) for _ in range(4)]
    y_hist = [A @ s for s in s_hist]  # y = A s: positive curvature
    rho_hist = [1.0 / float(y.dot(s)) for s, y in zip(s_hist, y_hist, strict=True)]
    g = torch.randn(n, dtype=torch.float64)
    d = two_loop(g, s_hist, y_hist, rho_hist)
    torch.testing.assert_close(d, -dense_inverse_hessian(n, s_hist, y_hist) @ g)


def test_fixed_step_matches_torch_optim_lbfgs():
    torch.manual_seed(0)
    X, y = torch.randn(40, 5, dtype=torch.float64), torch.randn(40, dtype=torch.float64)

    def f(w):
        return torch.log1p(torch.exp(-(X @ w) * y.sign())).mean() + 0.01 * (w**2).sum()

    results = []
    for cls in (LBFGS, torch.optim.LBFGS):
        w = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        opt = cls([w], lr=0.8, max_iter=15, history_size=4)
        for _ in range(2):  # a second step continues from the stored history
            opt.step(closure_for(opt, w, f))
        results.append(w.detach().clone())
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_quadratic_reaches_the_closed_form_minimizer(line_search_fn):
    torch.manual_seed(1)
    M = torch.randn(8, 8, dtype=torch.float64)
    A, b = M @ M.T + torch.eye(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    x = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    opt = LBFGS([x], max_iter=200, line_search_fn=line_search_fn, tolerance_grad=1e-12, tolerance_change=0.0)
    opt.step(closure_for(opt, x, lambda v: 0.5 * v @ A @ v - b @ v))
    torch.testing.assert_close(x.detach(), torch.linalg.solve(A, b), rtol=1e-8, atol=1e-8)


def test_rosenbrock_5d_reaches_scipy_minimizer():
    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    expected = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 0.0}).x
    x = torch.tensor(x0, requires_grad=True)
    opt = LBFGS([x], max_iter=500, history_size=10, line_search_fn="strong_wolfe",
                tolerance_grad=1e-10, tolerance_change=0.0)
    opt.step(closure_for(opt, x, rosenbrock))
    np.testing.assert_allclose(x.detach().numpy(), expected, atol=1e-6)


def test_strong_wolfe_step_satisfies_both_conditions():
    d = torch.tensor([1.0], dtype=torch.float64)
    x0 = torch.tensor([-2.0], dtype=torch.float64)

    def phi(t):  # f(x) = x^4 - 3x^2 + x along d from x0
        x = x0 + t * d
        return float((x**4 - 3 * x**2 + x).sum()), 4 * x**3 - 6 * x + 1

    f0, g0 = phi(0.0)
    for t0 in (1e-3, 0.1, 1.0, 10.0):
        step = strong_wolfe(phi, f0, g0, d, t0, c1=1e-4, c2=0.9)
        assert step.ok
        dphi0, dphi = float(g0.dot(d)), float(step.g.dot(d))
        assert step.f <= f0 + 1e-4 * step.t * dphi0
        assert abs(dphi) <= 0.9 * abs(dphi0)


def test_max_eval_is_honoured_inside_the_line_search():
    for max_eval in (1, 3, 7, 25):
        x = torch.tensor([-1.2, 1.0, -1.2, 1.0, -1.2], dtype=torch.float64, requires_grad=True)
        calls = []
        opt = LBFGS([x], max_iter=100, max_eval=max_eval, line_search_fn="strong_wolfe")
        opt.step(closure_for(opt, x, rosenbrock, calls))
        assert len(calls) <= max_eval


def test_several_param_groups_act_as_one_vector():
    target = torch.arange(6, dtype=torch.float64)

    def run(groups):
        a = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(4, dtype=torch.float64, requires_grad=True)
        opt = LBFGS(groups(a, b), line_search_fn="strong_wolfe", max_iter=50, tolerance_change=0.0,
                    tolerance_grad=1e-12)
        opt.step(closure_for(opt, None, lambda _: ((torch.cat([a, b]) - target) ** 2 * target.add(1)).sum()))
        return torch.cat([a, b]).detach()

    one = run(lambda a, b: [a, b])
    two = run(lambda a, b: [{"params": [a]}, {"params": [b]}])
    torch.testing.assert_close(one, two)
    torch.testing.assert_close(two, target)


def test_param_groups_with_different_hyperparameters_are_rejected():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    opt = LBFGS([{"params": [a]}, {"params": [b], "history_size": 3}])
    with pytest.raises(ValueError, match=r"^invalid history_size=3: must be the same in every param group"):
        opt.step(closure_for(opt, a, lambda v: (v**2).sum()))


def test_nan_in_line_search_is_rejected_and_a_finite_point_kept():
    # f = |x|^2, but NaN beyond |x| > 1.5: the unit steps from x0 land there first.
    def f(x):
        value = ((x - 1.0) ** 2).sum()
        return torch.where(x.abs().max() > 1.5, torch.tensor(float("nan"), dtype=x.dtype), value)

    for line_search_fn in (None, "strong_wolfe"):
        x = torch.tensor([-1.0, 1.4], dtype=torch.float64, requires_grad=True)
        opt = LBFGS([x], lr=10.0, max_iter=30, line_search_fn=line_search_fn)
        opt.step(closure_for(opt, x, f))
        assert torch.isfinite(x).all() and math.isfinite(float(f(x.detach())))
        if line_search_fn is None:  # the fixed step hit NaN: restored to the start exactly
            assert x.detach().tolist() == [-1.0, 1.4]
        else:
            assert float(f(x.detach())) < 1e-6


@pytest.mark.parametrize("optimizer", [LBFGS, Newton])
def test_bad_closures(optimizer):  # both full-batch optimizers
    x = torch.zeros(3, requires_grad=True)
    opt = optimizer([x])
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match=r"scalar loss tensor, got \(3,\)"):
        opt.step(lambda: x * 2)


@pytest.mark.parametrize("kwargs, name", [({"lr": -1.0}, r"^invalid lr=-1\.0: "),
                                          ({"max_iter": 0}, r"^invalid max_iter=0: "),
                                          ({"max_eval": 0}, r"^invalid max_eval=0: "),
                                          ({"history_size": 0}, r"^invalid history_size=0: "),
                                          ({"tolerance_grad": -1}, r"^invalid tolerance_grad=-1: "),
                                          ({"tolerance_change": -1}, r"^invalid tolerance_change=-1: "),
                                          ({"line_search_fn": "armijo"}, r"^invalid line_search_fn='armijo': ")])
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LBFGS([torch.zeros(1, requires_grad=True)], **kwargs)
