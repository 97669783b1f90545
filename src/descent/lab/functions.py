"""Two-dimensional loss surfaces with known minima: the landscapes of the lecture's pictures.

Each :class:`Surface` is a torch function ``f(x, y)`` (elementwise, so it evaluates a whole plotting grid at
once); gradients come from autograd. Every surface carries its global ``minima`` (where ``f == f_min``), any
``local_minima`` and ``saddles`` it has, a plotting ``domain`` and a standard ``start`` point.

==================  ======================================================  ==========================
name                f(x, y)                                                 global minima, f_min
==================  ======================================================  ==========================
quadratic           x**2 / 20 + y**2   (condition number 20)                (0, 0), 0
rosenbrock          (1 - x)**2 + 100 (y - x**2)**2                          (1, 1), 0
beale               (1.5 - x + xy)**2 + (2.25 - x + xy**2)**2               (3, 0.5), 0
                    + (2.625 - x + xy**3)**2
himmelblau          (x**2 + y - 11)**2 + (x + y**2 - 7)**2                  four points, 0
saddle              x**2 - y**2        (unbounded below, saddle at 0)       none, -inf
double-well         x**4/4 + x**3/3 - x**2 + y**2                           (-2, 0), -8/3
                    (local minimum (1, 0) with f = -5/12)
rastrigin           20 + sum(t**2 - 10 cos(2 pi t) for t in (x, y))         (0, 0), 0
==================  ======================================================  ==========================

The double well is designed from its derivative: d f / d x = x**3 + x**2 - 2x = x (x + 2)(x - 1), so its
stationary points are x = -2 (global minimum), x = 0 (the barrier) and x = 1 (the local minimum).

References: H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a function",
1960; E. M. L. Beale, "On an iterative method for finding a local minimum of a function of more than one
variable", 1958; D. M. Himmelblau, "Applied Nonlinear Programming", 1972; L. A. Rastrigin, "Systems of
extremal control", 1974. Optax and torch.optim ship no such surfaces; these follow the usual definitions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import DescentError

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A 2-D test function f(x, y) with its known stationary points, plotting domain and start point."""

    name: str
    formula: str
    f: Callable[[Tensor, Tensor], Tensor]
    minima: tuple[Point, ...]
    f_min: float
    domain: tuple[Point, Point]  # ((x_low, x_high), (y_low, y_high))
    start: Point
    local_minima: tuple[Point, ...] = ()
    saddles: tuple[Point, ...] = ()
    starts: tuple[Point, ...] = ()  # further start points that lead to different places
    log_levels: bool = False  # contour levels spaced on a log scale (steep walls, flat floors)

    def __call__(self, xy: Tensor) -> Tensor:
        """f at points ``xy`` of shape (..., 2)."""
        return self.f(xy[..., 0], xy[..., 1])

    def gradient(self, xy: Tensor) -> Tensor:
        """The gradient (df/dx, df/dy) at one point, by autograd."""
        point = xy.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(self(point), point)
        return grad

    def distance_to_minimum(self, points: Tensor) -> Tensor:
        """Euclidean distance from each of ``points`` (..., 2) to the nearest global minimum (inf if none)."""
        if not self.minima:
            return torch.full(points.shape[:-1], math.inf, dtype=points.dtype)
        minima = torch.tensor(self.minima, dtype=points.dtype)
        return torch.linalg.vector_norm(points[..., None, :] - minima, dim=-1).amin(dim=-1)


def _quadratic(x: Tensor, y: Tensor) -> Tensor:
    return x**2 / 20 + y**2


def _rosenbrock(x: Tensor, y: Tensor) -> Tensor:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(x: Tensor, y: Tensor) -> Tensor:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(x: Tensor, y: Tensor) -> Tensor:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _saddle(x: Tensor, y: Tensor) -> Tensor:
    return x**2 - y**2


def _double_well(x: Tensor, y: Tensor) -> Tensor:
    return x**4 / 4 + x**3 / 3 - x**2 + y**2


def _rastrigin(x: Tensor, y: Tensor) -> Tensor:
    two_pi = 2 * math.pi
    return 20 + x**2 - 10 * torch.cos(two_pi * x) + y**2 - 10 * torch.cos(two_pi * y)


# Himmelblau's minima other than (3, 2) have no closed form; these are Newton's roots of the gradient.
_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.805118086952745, 3.131312518250573),
    (-3.7793102533777465, -3.2831859912861696),
    (3.5844283403304917, -1.8481265269644036),
)

FUNCTIONS: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface("quadratic", "x^2/20 + y^2", _quadratic, ((0.0, 0.0),), 0.0, ((-8.0, 8.0), (-3.0, 3.0)),
                start=(-7.0, 2.0)),
        Surface("rosenbrock", "(1-x)^2 + 100(y-x^2)^2", _rosenbrock, ((1.0, 1.0),), 0.0,
                ((-2.0, 2.0), (-1.0, 3.0)), start=(-1.5, 2.0), log_levels=True),
        Surface("beale", "(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2", _beale, ((3.0, 0.5),), 0.0,
                ((-4.5, 4.5), (-4.5, 4.5)), start=(1.0, 1.5), log_levels=True),
        Surface("himmelblau", "(x^2+y-11)^2 + (x+y^2-7)^2", _himmelblau, _HIMMELBLAU_MINIMA, 0.0,
                ((-5.0, 5.0), (-5.0, 5.0)), start=(0.0, 0.0), log_levels=True,
                starts=((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))),
        Surface("saddle", "x^2 - y^2", _saddle, (), -math.inf, ((-6.0, 6.0), (-4.0, 4.0)), start=(-5.0, 0.0),
                saddles=((0.0, 0.0),)),
        Surface("double-well", "x^4/4 + x^3/3 - x^2 + y^2", _double_well, ((-2.0, 0.0),), -8 / 3,
                ((-3.0, 3.0), (-2.0, 2.0)), start=(2.5, 1.0), local_minima=((1.0, 0.0),),
                saddles=((0.0, 0.0),)),
        Surface("rastrigin", "20 + x^2 - 10cos(2 pi x) + y^2 - 10cos(2 pi y)", _rastrigin, ((0.0, 0.0),), 0.0,
                ((-5.12, 5.12), (-5.12, 5.12)), start=(-4.5, 3.5)),
    )
}


def get(name: str | Surface) -> Surface:
    """Look a surface up by name; an unknown name raises DescentError listing the choices."""
    if isinstance(name, Surface):
        return name
    key = name.lower().replace("_", "-")
    if key not in FUNCTIONS:
        raise DescentError(f"unknown function {name!r}; choose from {', '.join(FUNCTIONS)}")
    return FUNCTIONS[key]
