"""The explorer: one self-contained HTML page where a student picks the surface, the start, the optimizer, the
learning rate, the momentum/beta value and the gradient noise, and sees the path, the loss curve and the step
count to the minimum.

Every path on the page was computed here, in Python, by :func:`descent.lab.run` (descent's own optimizer
classes from the registry), for every point of a grid of settings:

    theta_{t+1} = optimizer_step(theta_t, grad f(theta_t) + sigma xi_t),   t = 0 .. steps - 1

for each surface x start x optimizer x lr x beta x sigma in :class:`Grid`. The page only looks the chosen
path up and draws it: there is no optimizer arithmetic in JavaScript. ``beta`` is the optimizer's own knob:
``momentum`` for Momentum and Nesterov, ``alpha`` (the squared-gradient decay) for RMSProp, ``beta1`` for Adam
(beta2 stays at 0.999); SGD and AdaGrad have none.

The page's whole state lives in its URL fragment, ``explore.html#function=quadratic&start=-7,2&optimizer=
momentum&lr=0.1&momentum=0.9&noise=0``, so a link reproduces a view exactly. Each path is stored as float32
triples (x, y, f) in one base64 block; the surfaces are matplotlib contour images drawn by
:func:`descent.lab.plots.draw_surface`. The default grid (2,352 paths of 100 steps) makes a page of about
4 MB; :data:`MAX_BYTES` (5 MB) is a hard limit, checked before any path is run.

>>> grid = Grid(functions=("quadratic",), optimizers=("sgd",), lrs=(0.1,), noises=(0.0,), steps=3)
>>> [(s.function, s.start, s.optimizer, s.lr, s.knob, s.noise) for s in grid.settings()]
[('quadratic', (-7.0, 2.0), 'sgd', 0.1, None, 0.0), ('quadratic', (7.0, -0.5), 'sgd', 0.1, None, 0.0)]
>>> path = trajectory(next(grid.settings()), grid)
>>> path.points[1].tolist()  # theta - 0.1 * (x / 10, 2 y)
[-6.93, 1.6]
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _io, checks
from ..errors import DescentError
from ..optim import registry
from ..report import pyplot
from ..report.html import data_uri
from . import explore_page, plots
from .functions import Point
from .functions import get as get_function
from .trajectories import Trajectory, run

MAX_BYTES = 5_000_000
# Each path's float32 (x, y, f) per point, base64 (4/3), plus its line of the index.
_BYTES_PER_POINT = 12 * 4 / 3
_INDEX_BYTES_PER_PATH = 80
_IMAGE_BYTES = 120_000  # a generous bound for one contour image (they weigh 30-70 kB)
IMAGE_SIZE = (560, 400)  # pixels of the surface picture

FUNCTIONS = ("quadratic", "rosenbrock", "beale", "himmelblau", "saddle", "double-well")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
LRS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
NOISES = (0.0, 1.0)
# Two starts per surface: the standard one and one that tells a different story.
STARTS: dict[str, tuple[Point, ...]] = {
    "quadratic": ((-7.0, 2.0), (7.0, -0.5)),
    "rosenbrock": ((-1.5, 2.0), (1.5, -0.5)),
    "beale": ((1.0, 1.5), (-2.0, -2.0)),
    "himmelblau": ((0.0, 0.0), (-1.0, -1.0)),
    "saddle": ((-5.0, 0.0), (-5.0, 0.001)),
    "double-well": ((2.5, 1.0), (0.5, 1.5)),
}
# optimizer -> (the knob's name in the fragment, its values); the name is the optimizer's keyword, except
# Adam's beta1, which is betas[0].
KNOBS: dict[str, tuple[str, tuple[float, ...]]] = {
    "momentum": ("momentum", (0.5, 0.9, 0.99)),
    "nesterov": ("momentum", (0.5, 0.9, 0.99)),
    "rmsprop": ("alpha", (0.9, 0.99, 0.999)),
    "adam": ("beta1", (0.5, 0.9, 0.99)),
}
ADAM_BETA2 = 0.999


def _text(values: tuple[float, ...]) -> str:
    """Numbers as the page's keys and its fragment spell them: ``0.001``, ``1``, ``-7,2``."""
    return ",".join(f"{v:g}" for v in values)


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a path is ``run(function, optimizer, lr, steps, start, noise, seed, **hyper)``."""

    function: str
    start: Point
    optimizer: str
    lr: float
    knob: float | None
    noise: float

    def hyper(self) -> dict[str, Any]:
        """The optimizer keywords of the knob: ``{"momentum": 0.9}``, ``{"betas": (0.9, 0.999)}``, or none."""
        if self.knob is None:
            return {}
        name = KNOBS[self.optimizer][0]
        return {"betas": (self.knob, ADAM_BETA2)} if name == "beta1" else {name: self.knob}

    def key(self) -> str:
        """The page's name of this path: the fragment's values joined by ``|``."""
        knob = () if self.knob is None else (self.knob,)
        return "|".join([self.function, _text(self.start), self.optimizer, _text((self.lr,)), _text(knob),
                         _text((self.noise,))])


@dataclass(frozen=True)
class Grid:
    """The settings the page offers; every combination is run."""

    functions: tuple[str, ...] = FUNCTIONS
    optimizers: tuple[str, ...] = OPTIMIZERS
    lrs: tuple[float, ...] = LRS
    noises: tuple[float, ...] = NOISES
    steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        checks.positive_int("steps", self.steps)
        for name, values, choices in (("function", self.functions, FUNCTIONS),
                                      ("optimizer", self.optimizers, OPTIMIZERS)):
            if not values:
                raise DescentError(f"the explorer needs at least one {name}")
            for value in values:
                checks.one_of(name, value, choices)
        for lr in self.lrs:
            checks.positive("lr", lr)
        for noise in self.noises:
            checks.nonnegative("noise", noise)
        if not (self.lrs and self.noises):
            raise DescentError("the explorer needs at least one lr and one noise level")

    def settings(self) -> Iterator[Setting]:
        """Every combination of function, start, optimizer, lr, knob value and noise, in that nesting order."""
        for function in self.functions:
            for start in STARTS[function]:
                for optimizer in self.optimizers:
                    knobs = KNOBS[optimizer][1] if optimizer in KNOBS else (None,)
                    for lr in self.lrs:
                        for knob in knobs:
                            for noise in self.noises:
                                yield Setting(function, start, optimizer, lr, knob, noise)

    def size_bound(self) -> int:
        """An upper bound on the page's size in bytes, known before any path is run."""
        paths = sum(1 for _ in self.settings())
        per_path = (self.steps + 1) * _BYTES_PER_POINT + _INDEX_BYTES_PER_PATH
        return int(paths * per_path + len(self.functions) * _IMAGE_BYTES + explore_page.TEMPLATE_BYTES)


def trajectory(setting: Setting, grid: Grid) -> Trajectory:
    """The path of one setting, exactly as ``descent.lab.run`` computes it."""
    return run(setting.function, setting.optimizer, lr=setting.lr, steps=grid.steps, start=setting.start,
               noise=setting.noise, seed=grid.seed, **setting.hyper())


def surface_image(name: str) -> str:
    """The contour picture of a surface as a PNG data URI; its pixels span exactly the surface's domain."""
    plt = pyplot()
    width, height = IMAGE_SIZE
    fig = plt.figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    plots.draw_surface(ax, get_function(name))
    ax.set_axis_off()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return data_uri(buffer.getvalue())


def _finite32(values: np.ndarray) -> np.ndarray:
    """float32 copies that stay finite: a diverging path's last points can exceed float32's range."""
    limit = float(np.finfo(np.float32).max) / 2
    return np.clip(values, -limit, limit).astype("<f4")


def _texts(values: tuple[float, ...]) -> list[str]:
    return [_text((v,)) for v in values]


def collect(grid: Grid) -> dict[str, Any]:
    """Run every setting of ``grid``; return the page's data: the paths, their index and the controls."""
    blocks: list[np.ndarray] = []
    index: dict[str, list[Any]] = {}
    offset = 0
    for setting in grid.settings():
        path = trajectory(setting, grid)
        triples = np.column_stack([path.points.numpy(), path.values.numpy()])
        blocks.append(_finite32(triples).reshape(-1))
        index[setting.key()] = [offset, len(triples), path.steps_to(1e-3), int(path.diverged)]
        offset += triples.size
    surfaces = {}
    for name in grid.functions:
        surface = get_function(name)
        surfaces[name] = {
            "formula": surface.formula, "domain": surface.domain, "image": surface_image(name),
            "starts": [_text(start) for start in STARTS[name]],
            "f_min": surface.f_min if math.isfinite(surface.f_min) else None,
        }
    optimizers = {name: {"knob": KNOBS.get(name, (None, ()))[0], "values": _texts(KNOBS.get(name, (None, ()))[1]),
                         "class": registry.get(name).factory.__name__} for name in grid.optimizers}
    return {
        "steps": grid.steps, "seed": grid.seed, "tol": 1e-3, "lrs": _texts(grid.lrs), "noises": _texts(grid.noises),
        "adam_beta2": ADAM_BETA2, "surfaces": surfaces, "optimizers": optimizers, "index": index,
        "points": base64.b64encode(np.concatenate(blocks).tobytes()).decode("ascii"),
    }


def build_page(grid: Grid) -> str:
    """The whole page as one string of HTML (style, script and data inline)."""
    data = json.dumps(collect(grid), separators=(",", ":")).replace("</", "<\\/")
    return explore_page.render(data)


def write(out_dir: str | os.PathLike, grid: Grid | None = None) -> tuple[Path, int]:
    """Write ``out_dir/explore.html``; return its path and the number of paths it holds.

    A grid whose page could exceed :data:`MAX_BYTES` is refused before anything runs or is created.
    """
    grid = grid or Grid()
    if str(out_dir) == "":
        _io.ensure_dir(out_dir)  # its one-line refusal now, not after a minute of computing
    bound = grid.size_bound()
    if bound > MAX_BYTES:
        raise DescentError(f"the page would hold up to {bound / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:g} MB; "
                           "choose fewer functions or optimizers, or fewer steps")
    page = build_page(grid)
    if len(page.encode()) > MAX_BYTES:  # the bound above is meant to make this unreachable
        raise DescentError(f"the page holds {len(page.encode()) / 1e6:.1f} MB, more than {MAX_BYTES / 1e6:g} MB")
    path = _io.ensure_dir(out_dir) / "explore.html"
    _io.write_text(path, page)
    return path, sum(1 for _ in grid.settings())
