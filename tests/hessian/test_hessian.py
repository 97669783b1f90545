"""descent.hessian against the dense Hessian (torch.autograd.functional.hessian) of small networks in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descent.hessian import HessianOperator, density, flatten, lanczos, top_eigenvalues, trace, tridiagonal, unflatten


def _problem(kind: str):
    """A small network, its data and loss: (model, loss_fn, params, dense Hessian)."""
    torch.manual_seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
        x, y = torch.randn(40, 5, dtype=torch.float64), torch.randint(0, 3, (40,))
    else:  # a conv net with batch norm in training mode: batch statistics are part of the function
        model = nn.Sequential(nn.Conv1d(1, 3, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(3 * 6, 3)).double().train()
        x, y = torch.randn(30, 1, 8, dtype=torch.float64), torch.randint(0, 3, (30,))
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    buffers = {n: b.clone() for n, b in model.named_buffers()}

    def loss_fn():
        return nn.functional.cross_entropy(functional_call(model, {**dict(zip(names, params)), **buffers}, (x,)), y)

    def flat_loss(w):
        return nn.functional.cross_entropy(
            functional_call(model, {**dict(zip(names, unflatten(w, params))), **buffers}, (x,)), y)

    dense = torch.autograd.functional.hessian(flat_loss, flatten(params).detach())
    return model, loss_fn, params, dense


@pytest.fixture(scope="module", params=["mlp", "cnn_bn"])
def problem(request):
    return _problem(request.param)


def test_hvp_is_the_dense_product(problem):
    _, loss_fn, params, dense = problem
    op = HessianOperator(loss_fn, params)
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(op(v), dense @ v, rtol=1e-10, atol=1e-12)
    assert op.hvps == 1


def test_top_eigenvalues_by_lanczos_match_the_dense_spectrum(problem):
    _, loss_fn, params, dense = problem
    exact = torch.linalg.eigvalsh(dense).flip(0)
    values, vectors = result = top_eigenvalues(loss_fn, params, k=3)
    torch.testing.assert_close(values, exact[:3], rtol=1e-6, atol=0)
    for value, vector in zip(values, vectors):  # each vector is an eigenvector: H v = lambda v
        assert float((dense @ vector - value * vector).norm()) <= 1e-4 * abs(float(value))
    n = dense.shape[0]
    assert 3 <= result.hvps < n, f"{result.hvps} products for a {n}-parameter Hessian"
    print(f"lanczos k=3: {result.hvps} HVPs for n={n}")


def test_power_iteration_with_deflation_finds_the_largest_magnitudes(problem):
    _, loss_fn, params, dense = problem
    exact = torch.linalg.eigvalsh(dense)
    by_magnitude = exact[exact.abs().argsort(descending=True)][:2].sort(descending=True).values
    values, _ = result = top_eigenvalues(loss_fn, params, k=2, method="power", tol=1e-12, max_iter=5000)
    torch.testing.assert_close(values, by_magnitude, rtol=1e-6, atol=0)
    assert result.hvps > 2


def test_a_shared_operator_counts_every_product(problem):
    _, loss_fn, params, _ = problem
    op = HessianOperator(loss_fn, params)
    first = top_eigenvalues(op, k=1)
    second = trace(op, probes=10)
    assert op.hvps == first.hvps + second.hvps and second.hvps == 10


def test_trace_is_within_a_few_standard_errors_and_the_error_is_honest(problem):
    _, loss_fn, params, dense = problem
    probes = 200
    estimate, stderr = result = trace(loss_fn, params, probes=probes, seed=3)
    exact = float(dense.trace())
    assert abs(estimate - exact) <= 4 * stderr, (estimate, exact, stderr)
    # the variance of z^T H z for Rademacher z is 2 sum_{i != j} H_ij^2 (Hutchinson, 1990)
    off = dense - torch.diag(dense.diagonal())
    true_stderr = math.sqrt(2 * float((off ** 2).sum()) / probes)
    assert 0.7 * true_stderr <= stderr <= 1.3 * true_stderr
    assert result.hvps == probes


def test_lanczos_quadrature_is_exact_for_low_degree_polynomials(problem):
    _, loss_fn, params, dense = problem
    op = HessianOperator(loss_fn, params)
    v = torch.randn(op.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    v = v / v.norm()
    m = 6
    alpha, beta, _ = lanczos(op, m, start=v)
    theta, y = torch.linalg.eigh(tridiagonal(alpha, beta))
    tau = y[0] ** 2
    power = v.clone()
    for p in range(2 * m):  # Gauss quadrature with m nodes: exact up to degree 2m - 1
        assert float((tau * theta ** p).sum()) == pytest.approx(float(v @ power), rel=1e-7, abs=1e-12), p
        power = dense @ power
    assert op.hvps == m


def test_density_nodes_are_the_eigenvalues_when_lanczos_runs_to_the_end(problem):
    _, loss_fn, params, dense = problem
    n = dense.shape[0]
    spectrum = density(loss_fn, params, steps=n, vectors=1)
    exact = torch.linalg.eigvalsh(dense)
    nodes = spectrum.nodes[0][spectrum.weights[0] > 1e-10]
    distance = (nodes[:, None] - exact[None]).abs().min(dim=1).values
    assert float(distance.max()) <= 1e-6 * float(exact.abs().max())
    mass = torch.trapezoid(spectrum.density, spectrum.grid)
    assert float(mass) == pytest.approx(1.0, abs=1e-3)
    assert spectrum.hvps == n


def test_density_moments_estimate_the_normalized_traces(problem):
    _, loss_fn, params, dense = problem
    n, vectors = dense.shape[0], 40
    spectrum = density(loss_fn, params, steps=12, vectors=vectors, seed=5)
    for p in (1, 2):  # 12 nodes integrate t and t^2 exactly: only the random vectors' error is left
        A = torch.linalg.matrix_power(dense, p)
        off = A - torch.diag(A.diagonal())
        stderr = math.sqrt(2 * float((off ** 2).sum()) / vectors) / n  # Hutchinson's, for v = z / sqrt(n)
        estimate = spectrum.moment(lambda t, p=p: t ** p)
        assert abs(estimate - float(A.trace()) / n) <= 4 * stderr, (p, estimate, float(A.trace()) / n, stderr)
    assert spectrum.hvps == 12 * vectors


@pytest.mark.parametrize("call, message", [
    (lambda f, p: top_eigenvalues(f, p, k=0), r"^invalid k=0: must be a positive integer"),
    (lambda f, p: top_eigenvalues(f, p, k=10_000), r"^invalid k=10000: must be at most the number of parameters"),
    (lambda f, p: top_eigenvalues(f, p, method="qr"), r"^invalid method='qr': must be one of"),
    (lambda f, p: trace(f, p, probes=1), r"^invalid probes=1: must be at least 2"),
    (lambda f, p: HessianOperator(lambda: torch.ones(2, requires_grad=True) * p[0].sum(), p),
     r"^invalid loss_fn\(\)=\(2,\): must return a scalar"),
    (lambda f, p: HessianOperator(f, []), r"^invalid params=\[\]"),
])
def test_error_inputs(call, message):
    _, loss_fn, params, _ = _problem("mlp")
    with pytest.raises(ValueError, match=message):
        call(loss_fn, params)
