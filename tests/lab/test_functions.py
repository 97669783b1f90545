"""The 2-D surfaces against hand-written derivatives, SciPy's minimizer and their Hessians."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from descent.errors import DescentError
from descent.lab import FUNCTIONS, get_function

TWO_PI = 2 * math.pi


# d f / d x and d f / d y, written out by hand from each formula (NumPy, independent of autograd).
def _grad_quadratic(x, y):
    return x / 10, 2 * y


def _grad_rosenbrock(x, y):
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


def _grad_beale(x, y):
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
    return (2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1),
            2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2)


def _grad_himmelblau(x, y):
    u, v = x**2 + y - 11, x + y**2 - 7
    return 4 * x * u + 2 * v, 2 * u + 4 * y * v


def _grad_saddle(x, y):
    return 2 * x, -2 * y


def _grad_double_well(x, y):
    return x**3 + x**2 - 2 * x, 2 * y


def _grad_rastrigin(x, y):
    return 2 * x + 10 * TWO_PI * np.sin(TWO_PI * x), 2 * y + 10 * TWO_PI * np.sin(TWO_PI * y)


HAND_GRADIENTS = {
    "quadratic": _grad_quadratic,
    "rosenbrock": _grad_rosenbrock,
    "beale": _grad_beale,
    "himmelblau": _grad_himmelblau,
    "saddle": _grad_saddle,
    "double-well": _grad_double_well,
    "rastrigin": _grad_rastrigin,
}


def test_every_function_has_a_hand_gradient():
    assert set(HAND_GRADIENTS) == set(FUNCTIONS)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_autograd_gradient_matches_the_hand_derivative(name):
    surface = FUNCTIONS[name]
    (x_low, x_high), (y_low, y_high) = surface.domain
    rng = np.random.default_rng(0)
    for x, y in zip(rng.uniform(x_low, x_high, 20), rng.uniform(y_low, y_high, 20), strict=True):
        got = surface.gradient(torch.tensor([x, y], dtype=torch.float64)).numpy()
        np.testing.assert_allclose(got, HAND_GRADIENTS[name](x, y), rtol=1e-10, atol=1e-10)


def _stationary_points(surface):
    return [*surface.minima, *surface.local_minima, *surface.saddles]


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_known_stationary_points_have_zero_hand_gradient(name):
    surface = FUNCTIONS[name]
    for x, y in _stationary_points(surface):
        np.testing.assert_allclose(HAND_GRADIENTS[name](x, y), (0.0, 0.0), atol=1e-9)


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if FUNCTIONS[n].minima])
def test_global_minima_have_f_min_and_a_positive_definite_hessian(name):
    surface = FUNCTIONS[name]
    for point in surface.minima:
        xy = torch.tensor(point, dtype=torch.float64)
        assert float(surface(xy)) == pytest.approx(surface.f_min, abs=1e-12)
        assert torch.linalg.eigvalsh(torch.autograd.functional.hessian(surface, xy)).min() > 0


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if FUNCTIONS[n].minima])  # the saddle is unbounded below
def test_scipy_finds_no_point_below_f_min_in_the_domain(name):
    surface = FUNCTIONS[name]
    (x_low, x_high), (y_low, y_high) = surface.domain

    def f(p):
        return float(surface(torch.tensor(p, dtype=torch.float64)))

    grid = np.meshgrid(np.linspace(x_low, x_high, 5), np.linspace(y_low, y_high, 5))
    for x0 in np.stack(grid, -1).reshape(-1, 2):
        result = minimize(f, x0, jac=lambda p: np.array(HAND_GRADIENTS[name](*p)), method="BFGS")
        assert result.fun >= surface.f_min - 1e-9


def test_himmelblau_minima_agree_with_scipy():
    surface = FUNCTIONS["himmelblau"]
    for point in surface.minima:
        result = minimize(lambda p: float(surface(torch.tensor(p))), np.array(point) + 0.1,
                          jac=lambda p: np.array(_grad_himmelblau(*p)), method="BFGS",
                          options={"gtol": 1e-12})
        np.testing.assert_allclose(result.x, point, atol=1e-6)


def test_local_minimum_of_the_double_well_is_higher_than_the_global():
    surface = FUNCTIONS["double-well"]
    ((x, y),) = surface.local_minima
    xy = torch.tensor([x, y], dtype=torch.float64)
    assert float(surface(xy)) == pytest.approx(1 / 4 + 1 / 3 - 1)  # -5/12 from the formula
    assert float(surface(xy)) > surface.f_min
    assert torch.linalg.eigvalsh(torch.autograd.functional.hessian(surface, xy)).min() > 0


@pytest.mark.parametrize("name", ["saddle", "double-well"])
def test_saddles_have_an_indefinite_hessian(name):
    surface = FUNCTIONS[name]
    for point in surface.saddles:
        eig = torch.linalg.eigvalsh(torch.autograd.functional.hessian(surface, torch.tensor(point).double()))
        assert eig.min() < 0 < eig.max()


def test_starts_lie_in_the_domain():
    for surface in FUNCTIONS.values():
        (x_low, x_high), (y_low, y_high) = surface.domain
        for x, y in (surface.start, *surface.starts):
            assert x_low <= x <= x_high and y_low <= y <= y_high


def test_distance_to_minimum_takes_the_nearest_one():
    surface = FUNCTIONS["himmelblau"]
    points = torch.tensor([[3.0, 2.5], [-3.7793102533777465, -3.2831859912861696]], dtype=torch.float64)
    np.testing.assert_allclose(surface.distance_to_minimum(points).numpy(), [0.5, 0.0], atol=1e-12)
    assert math.isinf(float(FUNCTIONS["saddle"].distance_to_minimum(points[0])))


def test_unknown_function_lists_the_choices():
    with pytest.raises(DescentError, match="unknown function 'nope'; choose from quadratic, rosenbrock"):
        get_function("nope")
    assert get_function("Double_Well") is FUNCTIONS["double-well"]
