"""`descent lab schedules`: the lecture's learning-rate decays drawn side by side.

Writes ``schedules.png`` (one small panel per schedule, same axes) and ``schedules.csv`` (t and the lr of each
schedule at t) into ``--out``. ``--schedule SPEC`` (repeatable) draws your own spellings instead.
"""

from __future__ import annotations

import argparse
import math

from .. import _io
from ..errors import DescentError
from ..schedules import SPEC_HELP, parse
from ._common import positive_float, positive_int


def lecture_specs(steps: int) -> list[str]:
    """The decays of the lecture (and their modern successors), scaled to a run of ``steps`` steps."""
    if steps < 10:
        raise DescentError(f"--steps must be at least 10 to draw the default schedules, got {steps}")
    half, three_quarters = steps // 2, (3 * steps) // 4
    return [
        "constant",
        f"step:every={steps // 4},factor=0.5",
        f"multistep:milestones={half}/{three_quarters},factor=0.1",
        f"exp:k={3 / steps:.4g}",                  # ends near lr * e^-3
        f"invtime:k={10 / steps:.4g}",             # ends near lr / 11
        "cosine",
        "restarts:cycles=3,mult=2",
        f"warmup={steps // 10}+cosine",
    ]


def register(sub) -> None:
    p = sub.add_parser(
        "schedules", help="draw the learning-rate decays side by side",
        description="Draw learning-rate schedules side by side: schedules.png and schedules.csv in --out.",
        epilog=SPEC_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="base learning rate (default 0.1)")
    p.add_argument("--steps", type=positive_int, default=100, help="steps to draw (default 100)")
    p.add_argument("--schedule", action="append", metavar="SPEC",
                   help="draw this schedule instead of the lecture's set (repeatable; spelling below)")
    p.set_defaults(func=run)


def run(args) -> int:
    specs = args.schedule or lecture_specs(args.steps)
    curves = {spec: [parse(spec, args.lr, args.steps)(t) for t in range(args.steps)] for spec in specs}
    out = _io.ensure_dir(args.out)
    rows = [{"t": t, **{spec: lrs[t] for spec, lrs in curves.items()}} for t in range(args.steps)]
    _io.write_csv(out / "schedules.csv", rows, ["t", *curves])
    figure = _draw(curves, args.lr, args.steps)
    _io.save_figure(figure, out / "schedules.png", dpi=120)
    print(f"wrote {out / 'schedules.png'} and {out / 'schedules.csv'}")
    return 0


def _draw(curves: dict[str, list[float]], lr: float, steps: int):
    try:
        from matplotlib.figure import Figure  # no pyplot: no global figure state, no display backend
    except ImportError:
        raise DescentError("drawing needs matplotlib: pip install 'descent[plot]'") from None
    cols = min(4, len(curves))
    rows = math.ceil(len(curves) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, (spec, lrs) in zip(axes, curves.items(), strict=False):
        ax.plot(range(steps), lrs, color="C0", lw=1.6)
        ax.set_title(spec, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(curves):]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("learning rate")
    for ax in axes[-cols:]:
        ax.set_xlabel("t (scheduler step)")
    fig.suptitle(f"learning-rate schedules, lr={lr:g}, {steps} steps")
    return fig
