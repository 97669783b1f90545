"""Run one of descent's optimizers on a 2-D surface and record the path it takes.

A trajectory is the sequence of points theta_0 = start, theta_1, ..., theta_T the optimizer visits on f:

    g_t     = grad f(theta_t) + sigma * xi_t,   xi_t ~ N(0, I)  (seeded)
    theta_{t+1} = optimizer_step(theta_t, g_t)

with sigma = ``noise``: the Gaussian term imitates the noise of a minibatch gradient (the notes' third problem
of SGD). Optimizers come only through :mod:`descent.optim.registry`, so the lab shows exactly the classes the
trainer uses. Computation is in float64 so that a path can be compared with its closed form to round-off.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..optim import registry
from .functions import Point, Surface
from .functions import get as get_function


@dataclass
class Trajectory:
    """The points an optimizer visited, with f at each; ``points[0]`` is the start.

    ``diverged`` is True when f or the point stopped being finite; the path ends at the last finite point.
    """

    function: str
    optimizer: str
    lr: float
    points: Tensor  # (steps + 1, 2), float64
    values: Tensor  # (steps + 1,)
    noise: float = 0.0
    seed: int = 0
    hyper: dict[str, Any] = field(default_factory=dict)
    diverged: bool = False

    @property
    def steps(self) -> int:
        return len(self.points) - 1

    @property
    def final(self) -> Point:
        x, y = self.points[-1].tolist()
        return (x, y)

    def distances(self) -> Tensor:
        """Distance of every visited point to the nearest global minimum of the surface."""
        return get_function(self.function).distance_to_minimum(self.points)

    def steps_to(self, tol: float = 1e-3) -> int | None:
        """First step t with ||theta_t - theta*|| <= tol, theta* the nearest global minimum; None if never."""
        hits = torch.nonzero(self.distances() <= tol)
        return int(hits[0]) if len(hits) else None


def iterate(
    function: str | Surface,
    optimizer_name: str,
    lr: float | None = None,
    start: Point | None = None,
    noise: float = 0.0,
    seed: int = 0,
    **hyper: Any,
) -> Iterator[Tensor]:
    """Yield theta_0 = start, theta_1, theta_2, ... without end; stop early only if f or theta leaves the
    finite numbers. Arguments as in :func:`run`."""
    surface = get_function(function)
    entry = registry.get(optimizer_name)
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a non-negative finite number, got {noise!r}")
    theta = torch.tensor(surface.start if start is None else start, dtype=torch.float64)
    if theta.shape != (2,) or not torch.isfinite(theta).all():
        raise ValueError(f"start must be two finite numbers (x, y), got {start!r}")
    theta.requires_grad_(True)
    optimizer = registry.build(entry.name, [theta], lr=entry.lab_lr if lr is None else lr, **hyper)
    generator = torch.Generator().manual_seed(seed)

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = surface(theta)
        loss.backward()
        if noise:
            theta.grad.add_(torch.randn(2, generator=generator, dtype=theta.dtype), alpha=noise)
        return loss

    yield theta.detach().clone()
    while True:
        if entry.closure:
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
        point = theta.detach().clone()
        if not (torch.isfinite(point).all() and torch.isfinite(surface(point))):
            return
        yield point


def run(
    function: str | Surface,
    optimizer_name: str,
    lr: float | None = None,
    steps: int = 100,
    start: Point | None = None,
    noise: float = 0.0,
    seed: int = 0,
    **hyper: Any,
) -> Trajectory:
    """Run ``optimizer_name`` (a registry name) for ``steps`` steps on ``function`` from ``start``.

    lr defaults to the registry entry's ``lab_lr``; start to the surface's standard start; ``hyper`` overrides
    the entry's defaults (e.g. ``momentum=0.5``). ``noise`` is the standard deviation sigma of the Gaussian
    added to each gradient, drawn from a generator seeded with ``seed``: same seed, same path. Optimizers
    whose entry needs a closure (L-BFGS) get one, and a step is one call of ``step(closure)``.
    """
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    surface = get_function(function)
    entry = registry.get(optimizer_name)
    lr = entry.lab_lr if lr is None else lr
    points = torch.stack(list(itertools.islice(
        iterate(surface, entry.name, lr=lr, start=start, noise=noise, seed=seed, **hyper), steps + 1)))
    return Trajectory(
        function=surface.name, optimizer=entry.name, lr=float(lr), points=points, values=surface(points),
        noise=float(noise), seed=seed, hyper=dict(hyper), diverged=len(points) < steps + 1,
    )


def steps_to_minimum(
    function: str | Surface,
    optimizer_name: str,
    tol: float = 1e-3,
    max_steps: int = 10_000,
    stall: tuple[int, float] | None = (200, 1e-12),
    **kwargs: Any,
) -> int | None:
    """The first step t with ||theta_t - theta*|| <= ``tol`` for the nearest global minimum theta*, or None if
    that does not happen within ``max_steps`` steps, the path diverges, or it stalls elsewhere.

    ``stall = (window, length)`` ends a hopeless run early: if the last ``window`` steps together moved the
    point less than ``length`` while it is farther than ``tol`` from every global minimum, it is stuck (a
    local minimum, a saddle) and would not arrive in time. ``None`` runs to ``max_steps``.
    """
    surface = get_function(function)
    recent: list[float] = []
    previous = None
    for t, point in enumerate(iterate(surface, optimizer_name, **kwargs)):
        if surface.distance_to_minimum(point) <= tol:
            return t
        if t >= max_steps:
            return None
        if stall is not None and previous is not None:
            recent.append(float(torch.linalg.vector_norm(point - previous)))
            if len(recent) > stall[0]:
                recent.pop(0)
                if sum(recent) < stall[1]:
                    return None
        previous = point
    return None
