"""The lecture's pictures as named scenes: each reproduces one point of the notes on a 2-D surface.

==============  =====================================================================================
scene           the notes' point
==============  =====================================================================================
zigzag          SGD problem 1: loss changes fast in y and slowly in x, so SGD zig-zags across the
                valley and crawls along it; momentum averages the zig-zag out and runs along it.
saddle          SGD problem 2: the gradient vanishes at a saddle. On the exact ridge y = 0 every
                gradient method stays on it (dy/dt = 0 there), momentum and Adam included. A 1e-3 nudge
                off the ridge: SGD still crawls (y grows like (1 + 2 lr)^t), momentum and Adam pass.
local-minimum   SGD problem 2: SGD stops in the local minimum; momentum's velocity carries it over the
                barrier into the global minimum.
noise           SGD problem 3: minibatch gradients are noisy, so the path jitters around the full-batch one.
learning-rate   The step size is the most important hyperparameter: too small crawls, too large diverges.
initial-point   Where you start decides where you end: four starts, four minima of Himmelblau's function.
==============  =====================================================================================

``all`` renders every scene. A scene is data (panels of labelled runs), so adding one is one new entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import _io
from ..errors import DescentError
from . import plots
from .functions import Point
from .functions import get as get_function
from .trajectories import Trajectory, run


@dataclass(frozen=True)
class Run:
    """One labelled path: an optimizer from the registry with its lr (None: the registry's lab_lr)."""

    label: str
    optimizer: str
    lr: float | None = None
    start: Point | None = None
    noise: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Panel:
    """One surface with the runs drawn on it."""

    title: str
    function: str
    runs: tuple[Run, ...]
    steps: int


@dataclass(frozen=True)
class Scene:
    """One named picture of the notes: a title over one or more panels."""

    name: str
    title: str
    panels: tuple[Panel, ...]


def _ridge(y0: float) -> tuple[Run, ...]:
    start = (-5.0, y0)
    return (
        Run("sgd lr=0.02", "sgd", 0.02, start),
        Run("momentum lr=0.02", "momentum", 0.02, start),
        Run("adam lr=0.1", "adam", 0.1, start),
    )


SCENES: dict[str, Scene] = {
    s.name: s
    for s in (
        Scene("zigzag", "SGD zig-zags across a narrow valley; momentum runs along it", (
            Panel("x^2/20 + y^2 from (-7, 2)", "quadratic", (
                Run("sgd lr=0.9", "sgd", 0.9),
                Run("momentum lr=0.1", "momentum", 0.1),
            ), steps=30),
        )),
        Scene("saddle", "x^2 - y^2: a saddle point holds gradient descent", (
            Panel("start on the ridge (-5, 0): y stays exactly 0", "saddle", _ridge(0.0), steps=100),
            Panel("start (-5, 1e-3), just off the ridge", "saddle", _ridge(1e-3), steps=100),
        )),
        Scene("local-minimum", "SGD stops in the local minimum; momentum rolls through it", (
            Panel("tilted double well from (2.5, 1)", "double-well", (
                Run("sgd lr=0.01", "sgd", 0.01),
                Run("momentum lr=0.01", "momentum", 0.01),
            ), steps=150),
        )),
        Scene("noise", "Minibatch noise: the same descent with noisy gradients jitters", (
            Panel("x^2/20 + y^2, gradient + N(0, sigma^2)", "quadratic", (
                Run("sgd lr=0.3, sigma=0", "sgd", 0.3),
                Run("sgd lr=0.3, sigma=1", "sgd", 0.3, noise=1.0),
                Run("momentum lr=0.03, sigma=1", "momentum", 0.03, noise=1.0),
            ), steps=60),
        )),
        Scene("learning-rate", "Learning rate: too small crawls, too large diverges", (
            Panel("SGD on x^2/20 + y^2 (diverges for lr > 1)", "quadratic", (
                Run("lr=0.05 (too small)", "sgd", 0.05),
                Run("lr=0.6 (good)", "sgd", 0.6),
                Run("lr=1.02 (too large)", "sgd", 1.02),
            ), steps=30),
        )),
        Scene("initial-point", "The start decides the minimum: four starts, four minima", (
            Panel("SGD lr=0.01 on Himmelblau", "himmelblau", tuple(
                Run(f"start {plots.format_point(p)}", "sgd", 0.01, p)
                for p in get_function("himmelblau").starts
            ), steps=100),
        )),
    )
}


def names() -> list[str]:
    """The scene names the CLI accepts, ``all`` last."""
    return [*SCENES, "all"]


def get(name: str) -> list[Scene]:
    """The scenes called ``name`` (``all``: every scene); an unknown name raises DescentError."""
    key = name.lower().replace("_", "-")
    if key == "all":
        return list(SCENES.values())
    if key not in SCENES:
        raise DescentError(f"unknown scene {name!r}; choose from {', '.join(names())}")
    return [SCENES[key]]


def run_panel(panel: Panel, steps: int | None = None) -> list[tuple[str, Trajectory]]:
    """Run every path of ``panel`` (for ``steps`` steps if given, else the panel's own count)."""
    count = panel.steps if steps is None else steps
    return [
        (r.label, run(panel.function, r.optimizer, lr=r.lr, steps=count, start=r.start, noise=r.noise,
                      seed=r.seed))
        for r in panel.runs
    ]


def run_scene(scene: Scene | str, steps: int | None = None) -> list[list[tuple[str, Trajectory]]]:
    """The trajectories of every panel of a scene, panel by panel."""
    if isinstance(scene, str):
        (scene,) = get(scene)
    return [run_panel(panel, steps) for panel in scene.panels]


def custom_scene(function: str, optimizers: list[str], steps: int, lr: float | None = None,
                 start: Point | None = None, noise: float = 0.0, seed: int = 0) -> Scene:
    """A one-panel scene: the given optimizers on ``function`` (their lab_lr unless ``lr`` is given)."""
    surface = get_function(function)
    runs = tuple(Run(name, name, lr, start, noise, seed) for name in optimizers)
    where = plots.format_point(start or surface.start)
    sigma = f", gradient noise sigma={noise:g}" if noise else ""
    panel = Panel(f"{surface.formula} from {where}{sigma}", surface.name, runs, steps)
    return Scene(surface.name, f"Optimizer paths on {surface.name}", (panel,))


def render(scene: Scene, out_dir: str | os.PathLike, gif: bool = True, steps: int | None = None,
           stem: str | None = None) -> tuple[list[Path], list[dict]]:
    """Write ``<stem>.png`` (and ``<stem>.gif``) and ``<stem>.csv`` (every point of every path) into
    ``out_dir``; return the files and one summary row per path."""
    folder = _io.ensure_dir(out_dir)
    stem = stem or scene.name
    results = run_scene(scene, steps)
    panels = [(f"{p.title}, {p.steps if steps is None else steps} steps", get_function(p.function), r)
              for p, r in zip(scene.panels, results, strict=True)]
    files = [plots.save_png(panels, folder / f"{stem}.png", scene.title)]
    if gif:
        files.append(plots.save_gif(panels, folder / f"{stem}.gif", scene.title))
    rows, summary = [], []
    for panel, paths in zip(scene.panels, results, strict=True):
        for label, path in paths:
            for t, ((x, y), f) in enumerate(zip(path.points.tolist(), path.values.tolist(), strict=True)):
                rows.append({"panel": panel.title, "label": label, "step": t, "x": x, "y": y, "f": f})
            summary.append({"scene": scene.name, "panel": panel.title, "function": panel.function,
                            "label": label, "steps": path.steps,
                            "final": path.final, "f": float(path.values[-1]), "diverged": path.diverged,
                            "steps_to_1e-3": path.steps_to(1e-3)})
    _io.write_csv(folder / f"{stem}.csv", rows)
    files.append(folder / f"{stem}.csv")
    return files, summary

