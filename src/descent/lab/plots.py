"""Contour plots of a surface with optimizer paths on it, as a still (PNG) or an animation (GIF).

A figure is a row of panels; each panel is one surface with labelled trajectories. Global minima are drawn as
stars, local minima as crosses, saddle points as diamonds. Everything renders with matplotlib's Agg backend
and is written atomically through :mod:`descent._io`.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import _io
from .functions import Surface
from .trajectories import Trajectory

# (panel title, surface, [(label, trajectory), ...])
Panel = tuple[str, Surface, Sequence[tuple[str, Trajectory]]]

_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_surface(ax: Any, surface: Surface, resolution: int = 160) -> None:
    """Filled contours of ``surface`` over its domain, with its stationary points marked."""
    (x_low, x_high), (y_low, y_high) = surface.domain
    xs = torch.linspace(x_low, x_high, resolution, dtype=torch.float64)
    ys = torch.linspace(y_low, y_high, resolution, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    z = surface.f(grid_x, grid_y).numpy()
    if surface.log_levels:  # steep walls and a flat floor: levels evenly spaced in log(f - min f + 1)
        z = np.log1p(z - z.min())
    ax.contourf(xs.numpy(), ys.numpy(), z, levels=30, cmap="Greys", alpha=0.55)
    ax.contour(xs.numpy(), ys.numpy(), z, levels=15, colors="grey", linewidths=0.4)
    for points, marker, size, name in (
        (surface.minima, "*", 140, "global minimum"),
        (surface.local_minima, "X", 70, "local minimum"),
        (surface.saddles, "D", 45, "saddle point"),
    ):
        if points:
            px, py = zip(*points, strict=True)
            ax.scatter(px, py, marker=marker, s=size, c="gold", edgecolors="black", zorder=5, label=name)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def _clipped(path: Trajectory, surface: Surface) -> np.ndarray:
    """Points as a NumPy array, clipped to 10x the domain so a diverging path still draws (as leaving it)."""
    (x_low, x_high), (y_low, y_high) = surface.domain
    span = 10 * max(x_high - x_low, y_high - y_low)
    return np.clip(path.points.numpy(), -span, span)


def figure(panels: Sequence[Panel], title: str = "", columns: int = 3) -> tuple[Any, list[Any]]:
    """Contour panels, ``columns`` to a row; each trajectory is a line with a dot at every iterate."""
    plt = _pyplot()
    cols = min(columns, len(panels))
    rows = -(-len(panels) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (panel_title, surface, paths) in zip(axes, panels, strict=False):
        draw_surface(ax, surface)
        for i, (label, path) in enumerate(paths):
            xy = _clipped(path, surface)
            thick = 1.0 + 1.5 * (len(paths) - 1 - i) / max(1, len(paths) - 1)  # earlier paths stay visible
            ax.plot(xy[:, 0], xy[:, 1], "-o", color=_COLORS[i % len(_COLORS)], ms=1.5 + thick, lw=thick,
                    label=label)
            ax.plot(xy[0, 0], xy[0, 1], "o", color="black", ms=4)
        ax.set_title(panel_title, fontsize=10)
        ax.legend(fontsize=7, loc="best", framealpha=0.8)
    if title:
        fig.suptitle(title, fontsize=11)
    # leave room for the suptitle: about 0.35 inch at the top, whatever the number of rows
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if title else None)
    return fig, axes[: len(panels)]


def save_png(panels: Sequence[Panel], path: str | os.PathLike, title: str = "", dpi: int = 110,
             columns: int = 3) -> Path:
    """Write the still figure of ``panels`` to ``path`` (PNG)."""
    fig, _ = figure(panels, title, columns)
    try:
        _io.save_figure(fig, path, dpi=dpi)
    finally:
        _pyplot().close(fig)
    return Path(path)


def save_gif(
    panels: Sequence[Panel],
    path: str | os.PathLike,
    title: str = "",
    frames: int = 16,
    fps: int = 8,
    dpi: int = 50,
    columns: int = 3,
) -> Path:
    """Write an animation of the paths being drawn step by step (few frames, low dpi: a small file).

    matplotlib's PillowWriter needs a file name, so the GIF is rendered into a temporary folder and then
    written to ``path`` atomically.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, axes = figure(panels, title, columns)
    lines = [line for ax in axes for line in ax.get_lines()[0::2]]  # the paths, not the start dots
    data = [(line.get_xdata(), line.get_ydata()) for line in lines]
    longest = max((len(x) for x, _ in data), default=1)
    shown = np.unique(np.linspace(1, longest, num=max(2, min(frames, longest))).round().astype(int))

    def draw(k: int) -> list[Any]:
        for line, (x, y) in zip(lines, data, strict=True):
            line.set_data(x[:k], y[:k])
        return lines

    animation = FuncAnimation(fig, draw, frames=list(shown), blit=False)
    try:
        with tempfile.TemporaryDirectory() as folder:
            scratch = Path(folder) / "animation.gif"
            animation.save(scratch, writer=PillowWriter(fps=fps), dpi=dpi)
            _io.write_bytes(path, scratch.read_bytes())
    finally:
        _pyplot().close(fig)
    return Path(path)


def format_point(point: Sequence[float]) -> str:
    """(x, y) with three significant digits, for legends and summaries."""
    return "(" + ", ".join("inf" if not math.isfinite(v) else f"{v:.3g}" for v in point) + ")"
