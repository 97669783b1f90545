"""The sharpness section of a run's report: the top Hessian eigenvalue against the stability limit 2/lr.

Gradient descent on a quadratic is stable only while the sharpness stays below ``2 / lr`` (see
:mod:`descent.train.sharpness`); the picture shows how close the run came to that edge.
"""

from __future__ import annotations

import os
from pathlib import Path

from .curves import pyplot
from .html import figure, read_csv


def sharpness_figure(run_dir: str | os.PathLike) -> str | None:
    """An ``<img>`` of ``sharpness.csv`` (sharpness and 2/lr against the step), or None without the file."""
    path = Path(run_dir) / "sharpness.csv"
    if not path.is_file():
        return None
    rows = read_csv(path)
    if not rows:
        return "<p>(no sharpness estimates)</p>"
    steps = [int(r["step"]) for r in rows]
    sharpness = [float(r["sharpness"]) for r in rows]
    limit = [2.0 / float(r["lr"]) for r in rows]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot(steps, sharpness, "o-", ms=3, label="sharpness (top Hessian eigenvalue)")
    ax.plot(steps, limit, "--", color="black", label="2 / lr")
    ax.set(xlabel="optimizer step", ylabel="eigenvalue",
           title="sharpness against the stability limit of gradient descent")
    if max(limit) / max(min(limit), 1e-30) > 20 or max(limit) > 20 * max(max(sharpness), 1e-30):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return figure(fig, "sharpness against 2/lr")
