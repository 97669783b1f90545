"""The pictures of ``descent lab landscape``: ``landscape.png`` (the 1-D and 2-D slices along
filter-normalized random directions) and ``trajectory.png`` (the run's path on its PCA plane, and the true
loss along the path beside the plane's loss, so the picture shows its own error). See
:mod:`descent.lab.landscape`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..report.curves import finish, pyplot


def _grid(rows: list[dict[str, Any]], x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = sorted({r[x] for r in rows})
    ys = sorted({r[y] for r in rows})
    z = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        z[ys.index(r[y]), xs.index(r[x])] = r["loss"]
    return np.array(xs), np.array(ys), z


def _contour(ax: Any, xs: np.ndarray, ys: np.ndarray, z: np.ndarray) -> None:
    finite = z[np.isfinite(z)]
    if finite.size == 0:
        return
    levels = np.quantile(finite, np.linspace(0.0, 1.0, 16))
    levels = np.unique(levels)
    if len(levels) < 2:
        levels = np.array([finite.min(), finite.min() + 1e-12])
    filled = ax.contourf(xs, ys, np.log10(np.clip(z, 1e-12, None)), levels=np.log10(np.clip(levels, 1e-12, None)),
                         cmap="viridis")
    ax.contour(xs, ys, z, levels=levels, colors="white", linewidths=0.4, alpha=0.6)
    ax.figure.colorbar(filled, ax=ax, label="log10 loss")


def plot_slices(result: dict[str, Any], path: Path) -> None:
    """``landscape.png``: the 1-D slice (log loss against alpha) beside the 2-D contour around the final weights."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    line = result["line"]
    ax1.plot([r["alpha"] for r in line], [r["loss"] for r in line], "-", lw=1.5)
    ax1.axvline(0.0, color="black", lw=0.6)
    ax1.set(xlabel="alpha (filter-normalized direction 1)", ylabel="loss", yscale="log",
            title="1-D slice through the final weights")
    xs, ys, z = _grid(result["surface"], "alpha", "beta")
    _contour(ax2, xs, ys, z)
    ax2.plot([0.0], [0.0], "r*", ms=10, label="final weights")
    ax2.set(xlabel="alpha (direction 1)", ylabel="beta (direction 2)",
            title=f"2-D slice, {len(xs)}x{len(ys)} grid (biases/BN: {result['bias_bn']})")
    finish(fig, [ax1, ax2], path)


def plot_trajectory(result: dict[str, Any], path: Path) -> None:
    """``trajectory.png``: the path of the epochs on the PCA plane's contours, and the true loss along the path
    beside the plane's loss under it."""
    plt = pyplot()
    t = result["trajectory"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs, ys, z = _grid([{"a": r["a"], "b": r["b"], "loss": r["loss"]} for r in t["surface"]], "a", "b")
    _contour(ax1, xs, ys, z)
    a = [r["a"] for r in t["path"]]
    b = [r["b"] for r in t["path"]]
    ax1.plot(a, b, "o-", color="red", ms=3, lw=1.2, label="epochs (projected)")
    ax1.plot(a[:1], b[:1], "ws", ms=6, label="start")
    ev = t["explained_variance"]
    ax1.set(xlabel=f"PC 1 ({100 * ev[0]:.1f}% of the path's variance)",
            ylabel=f"PC 2 ({100 * ev[1]:.1f}%)", title="the run's path on its PCA plane")
    ax1.legend(fontsize=8)
    epochs = [r["epoch"] for r in t["path"]]
    ax2.plot(epochs, [r["true_loss"] for r in t["path"]], "o-", ms=3, label="true loss at the epoch's weights")
    ax2.plot(epochs, [r["plane_loss"] for r in t["path"]], "s--", ms=3, label="loss of the plane under the path")
    ax2.set(xlabel="epoch", ylabel="loss", yscale="log",
            title=f"the picture's error: max |difference| {result['path_error']['max_abs_difference']:.3g}")
    finish(fig, [ax2], path)
