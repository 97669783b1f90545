"""descent.optim.Newton against independent truth: closed-form quadratics and Hessians, autograd's double
backward, SciPy's minimizers; and its bad-input behaviour."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from descent.optim._fullbatch import functional_loss
from descent.optim.newton import Newton, exact_direction, hessian_vector_product


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def closure_for(opt, x, f):
    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    return closure


def spd(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, generator=g, dtype=torch.float64)
    return M @ M.T + torch.eye(n, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("mode, iterations", [("exact", 1), ("cg", 8)])
def test_solves_a_quadratic(mode, iterations):
    # Exact Newton needs one step; Newton-CG stops each inner solve at its forcing tolerance, so a few.
    A, b = spd(7)
    x = torch.zeros(7, dtype=torch.float64, requires_grad=True)
    opt = Newton([x], mode=mode, damping=0.0, max_iter=iterations)
    opt.step(closure_for(opt, x, lambda v: 0.5 * v @ A @ v - b @ v))
    torch.testing.assert_close(x.detach(), torch.linalg.solve(A, b), rtol=1e-8, atol=1e-8)
    assert opt.state[x]["t"] == 1.0


def test_hessian_and_hvp_equal_the_closed_form():
    A, b = spd(5, seed=1)  # A = M M^T + I: every eigenvalue >= 1
    f = lambda v: 0.5 * v @ A @ v - b @ v + (v**3).sum()  # noqa: E731
    gen = torch.Generator().manual_seed(2)
    # |x_i| <= 0.15, so diag(6x) moves no eigenvalue by more than 0.9 (Weyl): H is positive definite and the
    # exact direction is the undamped Newton step, every run
    x = 0.3 * torch.rand(5, generator=gen, dtype=torch.float64) - 0.15
    H = A + torch.diag(6 * x)  # closed form
    assert float(torch.linalg.eigvalsh(H).min()) > 0
    v = torch.randn(5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(hessian_vector_product(f, x, v), H @ v)
    g = A @ x - b + 3 * x**2
    d, damping = exact_direction(f, x, g, 0.0)
    assert damping == 0.0
    torch.testing.assert_close(d, -torch.linalg.solve(H, g))
    assert float(g.dot(d)) < 0


def test_indefinite_hessian_gets_the_smallest_tenfold_damping_that_makes_it_positive_definite():
    """The damped branch of exact_direction against the closed form: H = diag(4, -2) + lambda I."""
    H = torch.diag(torch.tensor([4.0, -2.0], dtype=torch.float64))
    f = lambda v: 0.5 * v @ H @ v  # noqa: E731
    x = torch.tensor([1.0, 1.0], dtype=torch.float64)
    g = H @ x
    d, damping = exact_direction(f, x, g, 1e-3)
    assert damping == pytest.approx(10.0)  # 1e-3 * 10^4: the first of 1e-3, 1e-2, ... above 2
    torch.testing.assert_close(d, -torch.linalg.solve(H + damping * torch.eye(2, dtype=torch.float64), g))
    assert float(g.dot(d)) < 0


def test_functional_loss_of_a_module_closure_matches_autograd_double_backward():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    X, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    params = list(net.parameters())

    def closure():
        net.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), y)
        loss.backward()
        return loss

    f = functional_loss(closure, params, "test")
    x = torch.cat([p.detach().reshape(-1) for p in params])
    H = torch.func.hessian(f)(x)

    def g_of(v):  # independent: rebuild the net's parameters from v by hand
        w1, b1, w2, b2 = torch.split(v, [12, 4, 8, 2])
        h = torch.tanh(X @ w1.view(4, 3).T + b1)
        return torch.nn.functional.cross_entropy(h @ w2.view(2, 4).T + b2, y)

    torch.testing.assert_close(H, torch.autograd.functional.hessian(g_of, x))
    before = [p.detach().clone() for p in params]
    f(x + 1.0)
    assert all(torch.equal(p, q) for p, q in zip(params, before, strict=True))  # parameters untouched


@pytest.mark.parametrize("mode", ["exact", "cg"])
def test_rosenbrock_5d_reaches_scipy_minimizer(mode):
    x0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    rosen = lambda v: float(rosenbrock(torch.tensor(v)))  # noqa: E731
    expected = minimize(rosen, x0, method="Nelder-Mead",
                        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000, "maxfev": 20000}).x
    x = torch.tensor(x0, requires_grad=True)
    opt = Newton([x], mode=mode, max_iter=100)
    opt.step(closure_for(opt, x, rosenbrock))
    np.testing.assert_allclose(x.detach().numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(x.detach().numpy(), np.ones(5), atol=1e-8)


def test_logistic_regression_matches_scipy_trust_exact():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(50, 4, generator=g, dtype=torch.float64)
    y = (X[:, 0] - X[:, 1] + 0.5 * torch.randn(50, generator=g, dtype=torch.float64) > 0).double()

    def f(w):
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w, y) + 0.05 * (w**2).sum()

    def fun(w):
        w = torch.tensor(w, requires_grad=True)
        loss = f(w)
        loss.backward()
        return float(loss.detach()), w.grad.numpy()

    hess = lambda w: torch.autograd.functional.hessian(f, torch.tensor(w)).numpy()  # noqa: E731
    expected = minimize(fun, np.zeros(4), jac=True, hess=hess, method="trust-exact",
                        options={"gtol": 1e-12}).x
    w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = Newton([w], max_iter=20)
    opt.step(closure_for(opt, w, f))
    np.testing.assert_allclose(w.detach().numpy(), expected, atol=1e-8)


def test_indefinite_hessian_is_damped_into_a_descent_step():
    f = lambda v: v[0] ** 2 - v[1] ** 2 + v[1] ** 4  # noqa: E731  (saddle at 0, minima at y = +-1/sqrt 2)
    x = torch.tensor([0.5, 0.1], dtype=torch.float64, requires_grad=True)  # Hessian diag(2, -1.88)
    opt = Newton([x], mode="exact")
    f0 = float(f(x.detach()))
    opt.step(closure_for(opt, x, f))
    assert float(f(x.detach())) < f0 and opt.state[x]["damping"] > 1.0
    opt = Newton([x], max_iter=30)
    opt.step(closure_for(opt, x, f))
    torch.testing.assert_close(x.detach(), torch.tensor([0.0, 1 / math.sqrt(2)], dtype=torch.float64))


@pytest.mark.parametrize("mode", ["exact", "cg"])
def test_nan_during_line_search_is_rejected(mode):
    def f(v):  # (v - 3)^2 but NaN beyond |v| > 2: the full Newton step from 0 lands on NaN
        value = ((v - 3.0) ** 2).sum()
        return torch.where(v.abs().max() > 2, torch.tensor(float("nan"), dtype=v.dtype), value)

    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Newton([x], mode=mode)
    opt.step(closure_for(opt, x, f))
    assert opt.state[x]["t"] < 1.0 and math.isfinite(float(f(x.detach())))
    assert float(f(x.detach())) < float(f(torch.zeros(2, dtype=torch.float64)))

    y = torch.zeros(2, dtype=torch.float64, requires_grad=True)  # NaN everywhere but the start: unchanged
    opt = Newton([y], mode=mode)
    nan_off_start = lambda v: torch.where(v.abs().max() > 0, float("nan"), (v - 3).pow(2).sum())  # noqa: E731
    opt.step(closure_for(opt, y, nan_off_start))
    assert y.detach().tolist() == [0.0, 0.0]


def test_exact_hessian_too_large_names_the_cg_mode_and_auto_picks_cg():
    torch.manual_seed(0)
    net = torch.nn.Linear(200, 100)  # 20,100 parameters: a 3 GiB float64 / 1.5 GiB float32 Hessian
    X, y = torch.randn(8, 200), torch.randn(8, 100)

    def closure():
        net.zero_grad()
        loss = ((net(X) - y) ** 2).mean()
        loss.backward()
        return loss

    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"^invalid mode='exact' for 20100 parameters: .* use mode='cg'"):
        Newton(net.parameters(), mode="exact").step(closure)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before, strict=True))
    opt = Newton(net.parameters(), mode="auto", cg_max_iter=5)
    loss0 = float(closure().detach())
    opt.step(closure)
    assert opt.state[net.weight]["mode"] == "cg" and float(closure().detach()) < loss0


@pytest.mark.parametrize("kwargs, name", [
    ({"mode": "bfgs"}, r"^invalid mode='bfgs': "), ({"damping": -1.0}, r"^invalid damping=-1\.0: "),
    ({"lr": 0.0}, r"^invalid lr=0\.0: "), ({"shrink": 1.0}, r"^invalid shrink=1\.0: "),
    ({"c1": 0.0}, r"^invalid c1=0\.0: must be in \(0, 1\)"), ({"max_iter": 0}, r"^invalid max_iter=0: "),
    ({"cg_max_iter": 0}, r"^invalid cg_max_iter=0: "),
    ({"max_hessian_bytes": True}, r"^invalid max_hessian_bytes=True: ")])
def test_bad_hyperparameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Newton([torch.zeros(1, requires_grad=True)], **kwargs)


def test_a_closure_that_keeps_its_first_loss_gets_a_plain_tensor():
    # The trainer's closure keeps the first loss it computes; it must not be a torch.func-wrapped tensor.
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    X, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(0, 2, (10,))
    kept = {}
    opt = Newton(net.parameters(), max_iter=3)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X), y)
        loss.backward()
        kept.setdefault("loss", loss.detach())
        return loss

    first = opt.step(closure)
    assert not torch._C._functorch.is_functorch_wrapped_tensor(kept["loss"])
    assert float(kept["loss"]) == pytest.approx(float(first))
