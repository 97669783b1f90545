"""descent.gradcheck against closed-form gradients, a NumPy transcription of the notes' numerical gradient,
and deliberately wrong backwards that it must flag."""

import numpy as np
import pytest
import torch

from descent import gradcheck as gc

A = torch.tensor([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)


def f(x):
    return torch.sin(x).sum() + x @ A @ x


def grad_f(x):  # closed form
    return torch.cos(x) + (A + A.T) @ x


def numpy_numerical_gradient(fn, x, h=1e-5):
    """The notes' eval_numerical_gradient, centered, in NumPy."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = fn(x)
        x[i] = old - h
        minus = fn(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


X0 = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)


def test_centered_gradient_matches_closed_form_and_numpy():
    n = gc.numerical_gradient(f, X0)
    torch.testing.assert_close(n, grad_f(X0), rtol=1e-8, atol=1e-8)
    reference = numpy_numerical_gradient(lambda v: float(f(torch.from_numpy(v))), X0.numpy().copy())
    np.testing.assert_allclose(n.numpy(), reference, rtol=1e-12, atol=1e-12)


def test_forward_difference_is_first_order_and_centered_second_order():
    exact = grad_f(X0)
    for method, order in (("forward", 1), ("centered", 2)):
        e1 = float((gc.numerical_gradient(f, X0, h=1e-2, method=method) - exact).abs().max())
        e2 = float((gc.numerical_gradient(f, X0, h=1e-3, method=method) - exact).abs().max())
        assert e1 / e2 == pytest.approx(10.0**order, rel=0.2)


def test_numerical_gradient_keeps_the_shape_and_leaves_x_alone():
    x = torch.randn(2, 3, dtype=torch.float64)
    before = x.clone()
    g = gc.numerical_gradient(lambda v: (v**2).sum(), x)
    assert g.shape == x.shape
    torch.testing.assert_close(g, 2 * x)
    assert torch.equal(x, before)


def test_relative_error_formula_and_zero_over_zero():
    a = torch.tensor([1.0, 0.0, -2.0, 0.0])
    n = torch.tensor([1.1, 0.0, 2.0, 1e-3])
    expected = torch.tensor([0.1 / 1.1, 0.0, 2.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(gc.relative_error(a, n), expected)


def test_verdict_thresholds_of_the_lecture():
    assert [gc.verdict(e) for e in (1e-9, 5e-7, 1e-3, 0.5, float("nan"))] == \
        ["good", "check", "check", "wrong", "wrong"]


class _DoubledGrad(torch.autograd.Function):
    """x^2 summed, with a backward that is twice too large."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x**2).sum()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 4 * x * g


def test_check_accepts_a_correct_gradient_and_flags_a_wrong_one():
    assert gc.check(f, X0) < 1e-7
    assert gc.check(_DoubledGrad.apply, X0) == pytest.approx(0.5, rel=1e-6)
    assert gc.verdict(gc.check(_DoubledGrad.apply, X0)) == "wrong"


class _Square(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.good = torch.nn.Parameter(torch.randn(3))
        self.bad = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        return x * self.good + _DoubledGrad.apply(self.bad)


def test_check_module_reports_every_parameter_in_float64():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    reports = gc.check_module(net, torch.nn.functional.cross_entropy, x, y)
    assert [r.name for r in reports] == [n for n, _ in net.named_parameters()]
    assert [r.shape for r in reports] == [tuple(p.shape) for p in net.parameters()]
    assert all(r.verdict == "good" for r in reports)
    assert net[0].weight.dtype == torch.float32  # the caller's module is not converted


def test_check_module_flags_the_wrong_parameter_only():
    torch.manual_seed(0)
    reports = {r.name: r.verdict for r in gc.check_module(_Square(), lambda s, y: (s * y).sum(),
                                                          torch.randn(3), torch.randn(3))}
    assert reports == {"good": "good", "bad": "wrong"}


@pytest.mark.parametrize("kwargs, message", [({"method": "backward"}, "method='backward'"),
                                             ({"h": 0.0}, "h=0.0")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gc.numerical_gradient(f, X0, **kwargs)
