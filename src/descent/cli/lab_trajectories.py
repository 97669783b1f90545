"""`descent lab trajectories`: optimizer paths on 2-D loss surfaces, as contour plots and GIF animations.

    descent lab trajectories --out runs/lab --scene all              # every picture of the lecture
    descent lab trajectories --out runs/lab --function rosenbrock --optimizers adam,rmsprop --steps 500

Writes ``NAME.png``, ``NAME.gif`` (unless ``--no-gif``) and ``NAME.csv`` (every point of every path) per scene
or function, and prints one line per path: where it ended and after how many steps it first came within 1e-3
of a global minimum.
"""

from __future__ import annotations

import argparse
import math

from ..errors import DescentError
from ..optim import registry
from ._common import nonneg_float, positive_float, positive_int

MAX_START = 1e6  # the test functions are drawn near their minima; far away, x^4 overflows


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a point X,Y such as -5,0.001, got {text!r}") from None
    if not all(math.isfinite(v) and abs(v) <= MAX_START for v in (x, y)):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be a point X,Y with |X|, |Y| <= "
                                         f"{MAX_START:g}")
    return (x, y)


def register(sub) -> None:
    p = sub.add_parser(
        "trajectories",
        help="optimizer paths on 2-D loss surfaces (contour PNG + GIF)",
        description="Draw optimizer paths on 2-D test functions: a named scene of the lecture, or your own "
        "choice of function and optimizers.",
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--scene", help="a named picture of the lecture: zigzag, saddle, local-minimum, noise, "
                   "learning-rate, initial-point, or all")
    p.add_argument("--function", help="test function (default quadratic): quadratic, rosenbrock, beale, "
                   "himmelblau, saddle, double-well, rastrigin")
    p.add_argument("--optimizers", help="comma-separated registry names (default: the lecture's first-order "
                   "optimizers)")
    p.add_argument("--steps", type=positive_int, help="steps per path (default 100; a scene's own count)")
    p.add_argument("--lr", type=positive_float, help="one learning rate for every path (default: each "
                   "optimizer's lab_lr)")
    p.add_argument("--start", type=_point, help="start point X,Y (default: the function's standard start); "
                   "with a negative X write --start=-5,0.001")
    p.add_argument("--noise", type=nonneg_float, default=0.0,
                   help="standard deviation of Gaussian gradient noise (default 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the gradient noise (default 0)")
    p.add_argument("--gif", action=argparse.BooleanOptionalAction, default=True,
                   help="also write a GIF animation (default: yes)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..lab import get_function, scenes

    if args.scene is not None:
        custom = [f"--{k}" for k in ("function", "optimizers", "lr", "start") if getattr(args, k) is not None]
        if custom or args.noise:
            raise DescentError(f"--scene fixes its own paths; drop {', '.join(custom or ['--noise'])} "
                               "or leave out --scene")
        chosen = scenes.get(args.scene)
    else:
        names = registry.LECTURE_ORDER if args.optimizers is None else [
            n.strip() for n in args.optimizers.split(",") if n.strip()]
        if not names:
            raise DescentError("--optimizers needs at least one name")
        optimizers = [registry.get(n).name for n in names]  # unknown names fail here, before any work
        steps = 100 if args.steps is None else args.steps
        chosen = [scenes.custom_scene(args.function or "quadratic", optimizers, steps, lr=args.lr,
                                      start=args.start, noise=args.noise, seed=args.seed)]
    for scene in chosen:
        files, summary = scenes.render(scene, args.out, gif=args.gif, steps=args.steps)
        print(f"{scene.name}: {scene.title}")
        panel = None
        for row in summary:
            if len(scene.panels) > 1 and row["panel"] != panel:
                panel = row["panel"]
                print(f" {panel}")
            reached = row["steps_to_1e-3"]
            end = "diverged" if row["diverged"] else f"f={row['f']:.4g}"
            verdict = "never" if reached is None else f"at step {reached}"
            verdict = f"within 1e-3 of a global minimum {verdict}"
            if not get_function(row["function"]).minima:
                verdict = "no minimum to reach"
            print(f"  {row['label']:<28} end ({row['final'][0]:.4g}, {row['final'][1]:.4g}) {end}; {verdict}")
        print("  wrote " + ", ".join(str(f) for f in files))
    return 0
