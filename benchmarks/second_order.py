"""Second-order methods, measured in one process (medians of a few repeats), printed.

1. L2-regularised softmax regression on scikit-learn's digits (1797 x 64, standardized, float64, 650
   parameters) until the gradient's max-norm <= 1e-6: descent.optim.LBFGS vs torch.optim.LBFGS vs SciPy's
   L-BFGS-B, all with history size 10 and a strong-Wolfe-type line search: function evaluations, wall time.
2. descent.optim.Newton on the same problem to max-norm <= 1e-8: the per-iteration log, exact vs CG timings.
3. 5-D Rosenbrock: iteration counts beside SciPy's Newton-CG and trust-exact, from two starts.

Run: PYTHONPATH=src python benchmarks/second_order.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.optimize import minimize
from sklearn.datasets import load_digits

from descent.optim.lbfgs import LBFGS
from descent.optim.newton import Newton

L2 = 1e-3  # loss = mean cross-entropy + L2/2 * |theta|^2 over all of W and b (keeps the Hessian definite)
HISTORY = 10


def digits_problem():
    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    X, y = torch.tensor(X, dtype=torch.float64), torch.tensor(y)
    n_features, n_classes = X.shape[1], 10

    def loss_of(theta):
        W, b = theta[: n_features * n_classes].view(n_classes, n_features), theta[n_features * n_classes:]
        return torch.nn.functional.cross_entropy(X @ W.T + b, y) + 0.5 * L2 * (theta**2).sum()

    return loss_of, n_features * n_classes + n_classes


def counted_closure(opt, theta, loss_of, calls):
    def closure():
        calls[0] += 1
        opt.zero_grad()
        loss = loss_of(theta)
        loss.backward()
        return loss

    return closure


def grad_max_norm(loss_of, theta):
    return float(torch.func.grad(loss_of)(theta.detach()).abs().max())


def run_torch_style(cls, loss_of, n, **kwargs):
    theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = cls([theta], **kwargs)
    calls = [0]
    start = time.perf_counter()
    opt.step(counted_closure(opt, theta, loss_of, calls))
    return time.perf_counter() - start, calls[0], grad_max_norm(loss_of, theta)


def run_scipy(loss_of, n, tol, history=HISTORY):
    def fun(v):
        theta = torch.from_numpy(v).requires_grad_(True)
        loss = loss_of(theta)
        loss.backward()
        return float(loss.detach()), theta.grad.numpy()

    start = time.perf_counter()
    r = minimize(fun, np.zeros(n), jac=True, method="L-BFGS-B",
                 options={"maxcor": history, "gtol": tol, "ftol": 0.0, "maxiter": 100000, "maxfun": 100000})
    return time.perf_counter() - start, r.nfev, grad_max_norm(loss_of, torch.from_numpy(r.x))


def lbfgs_comparison(repeats):
    loss_of, n = digits_problem()
    tol = 1e-6
    common = dict(max_iter=100000, max_eval=100000, tolerance_grad=tol, tolerance_change=0.0,
                  history_size=HISTORY, line_search_fn="strong_wolfe")
    runners = {"descent LBFGS": lambda: run_torch_style(LBFGS, loss_of, n, **common),
               "torch.optim.LBFGS": lambda: run_torch_style(torch.optim.LBFGS, loss_of, n, **common),
               "SciPy L-BFGS-B": lambda: run_scipy(loss_of, n, tol)}
    results = {}
    for _ in range(repeats):  # interleaved, so machine noise hits all three alike
        for name, runner in runners.items():
            results.setdefault(name, []).append(runner())
    print(f"\n1. softmax regression on digits (650 params, L2={L2}), history {HISTORY}, "
          f"until max|grad| <= {tol:g}; median of {repeats}")
    print(f"{'optimizer':20s} {'f evals':>8s} {'seconds':>9s} {'final max|grad|':>16s}")
    summary = {}
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        evals = statistics.median(r[1] for r in runs)
        summary[name] = (seconds, evals)
        print(f"{name:20s} {evals:8.0f} {seconds:9.4f} {runs[-1][2]:16.2e}")
    ours, torch_, scipy_ = summary["descent LBFGS"], summary["torch.optim.LBFGS"], summary["SciPy L-BFGS-B"]
    print(f"ratios: f evals descent/SciPy = {ours[1] / scipy_[1]:.3f} (target <= 1.1); "
          f"wall time descent/torch = {ours[0] / torch_[0]:.3f} (target <= 1.0)")
    print("function evaluations at other history sizes (one run each): history, descent, torch, SciPy")
    for history in (5, 20):
        kwargs = {**common, "history_size": history}
        counts = [run_torch_style(cls, loss_of, n, **kwargs)[1] for cls in (LBFGS, torch.optim.LBFGS)]
        print(f"  {history:3d}  {counts[0]:4d}  {counts[1]:4d}  {run_scipy(loss_of, n, tol, history)[1]:4d}")


def newton_on_digits(repeats):
    loss_of, n = digits_problem()
    tol = 1e-8
    print(f"\n2. Newton on the same problem until max|grad| <= {tol:g}")
    for mode in ("exact", "cg"):
        theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        opt = Newton([theta], mode=mode)
        calls = [0]
        closure = counted_closure(opt, theta, loss_of, calls)
        print(f"  mode={mode}:  iter  loss                  max|grad| g_k  step t  g_k / g_(k-1)^2")
        previous = grad_max_norm(loss_of, theta)
        for it in range(1, 31):
            opt.step(closure)
            g = grad_max_norm(loss_of, theta)
            loss = float(loss_of(theta.detach()))
            # quadratic convergence: g_k / g_(k-1)^2 levels off at a constant instead of growing without bound
            t = opt.state[theta]["t"]
            print(f"  {'':11s}{it:4d}  {loss:.15f}  {g:.3e}      {t:<6g}  {g / previous**2:.3g}")
            previous = g
            if g <= tol:
                break
    timings = {}
    for _ in range(repeats):
        for mode in ("exact", "cg"):
            theta = torch.zeros(n, dtype=torch.float64, requires_grad=True)
            opt = Newton([theta], mode=mode, max_iter=50, tolerance_grad=tol)
            start = time.perf_counter()
            opt.step(counted_closure(opt, theta, loss_of, [0]))
            timings.setdefault(mode, []).append((time.perf_counter() - start, opt.state[theta]["n_iter"]))
    for mode, runs in timings.items():
        print(f"  {mode:5s}: {statistics.median(r[1] for r in runs):.0f} iterations, "
              f"{statistics.median(r[0] for r in runs):.3f} s (median of {repeats})")
    exact, cg = (statistics.median(r[0] for r in timings[m]) for m in ("exact", "cg"))
    print(f"  exact / cg time = {exact / cg:.2f}")


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def rosenbrock_counts():
    print("\n3. 5-D Rosenbrock: iterations until max|grad| <= 1e-8 (SciPy: its own stopping rules)")
    as_np = {"fun": lambda v: float(rosenbrock(torch.from_numpy(v))),
             "jac": lambda v: torch.func.grad(rosenbrock)(torch.from_numpy(v)).numpy(),
             "hess": lambda v: torch.func.hessian(rosenbrock)(torch.from_numpy(v)).numpy()}
    starts = {"classic (-1.2, 1, -1.2, 1, -1.2)": [-1.2, 1, -1.2, 1, -1.2],
              "SciPy docs (1.3, 0.7, 0.8, 1.9, 1.2)": [1.3, 0.7, 0.8, 1.9, 1.2]}
    for label, x0 in starts.items():
        print(f"  start {label}")
        for mode in ("exact", "cg"):
            x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
            opt = Newton([x], mode=mode, max_iter=500, tolerance_grad=1e-8)
            opt.step(counted_closure(opt, x, rosenbrock, [0]))
            print(f"    descent Newton {mode:5s}  {opt.state[x]['n_iter']:4d} iterations -> "
                  f"{np.round(x.detach().numpy(), 4)}  max|grad| {grad_max_norm(rosenbrock, x):.1e}")
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        opt = LBFGS([x], max_iter=1000, max_eval=5000, history_size=HISTORY, tolerance_grad=1e-8,
                    tolerance_change=0.0, line_search_fn="strong_wolfe")
        opt.step(counted_closure(opt, x, rosenbrock, [0]))
        print(f"    descent LBFGS         {opt.state[x]['n_iter']:4d} iterations -> "
              f"{np.round(x.detach().numpy(), 4)}  max|grad| {grad_max_norm(rosenbrock, x):.1e}")
        for method, extra in (("Newton-CG", {"xtol": 1e-12}), ("trust-exact", {"gtol": 1e-8})):
            r = minimize(as_np["fun"], np.array(x0), jac=as_np["jac"], hess=as_np["hess"], method=method,
                         options=extra)
            g = np.abs(as_np["jac"](r.x)).max()
            print(f"    SciPy {method:14s}  {r.nit:4d} iterations -> {np.round(r.x, 4)}  max|grad| {g:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread")
    lbfgs_comparison(args.repeats)
    newton_on_digits(max(1, args.repeats // 2))
    rosenbrock_counts()


if __name__ == "__main__":
    main()
