"""The pictures of a run, a comparison and a search, saved atomically as PNG files.

matplotlib is the ``descent[plot]`` extra: :func:`pyplot` names it in a one-line error when it is missing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._io import ensure_dir, save_figure
from ..errors import DescentError


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DescentError("drawing pictures needs matplotlib: pip install 'descent[plot]'") from None
    return plt


def finish(fig: Any, axes: Any, path: Path, title: str = "", dpi: int = 110) -> None:
    """Grid and legend on each of ``axes``, the title, a tight layout; save ``path`` atomically and close."""
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)
    pyplot().close(fig)


def plot_curves(iter_losses: list[float], history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss per iteration (with the per-epoch validation loss) and train/val accuracy per epoch."""
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    if iter_losses:
        ax_loss.plot(range(len(iter_losses)), iter_losses, lw=0.6, alpha=0.6, label="train (per iteration)")
    if history:
        steps_per_epoch = max(len(iter_losses) // max(len(history), 1), 1)
        xs = [(r["epoch"] + 1) * steps_per_epoch for r in history]
        ax_loss.plot(xs, [r["val_loss"] for r in history], "o-", ms=3, label="validation")
        epochs = [r["epoch"] + 1 for r in history]
        ax_acc.plot(epochs, [r["train_accuracy"] for r in history], "o-", ms=3, label="train")
        ax_acc.plot(epochs, [r["val_accuracy"] for r in history], "s-", ms=3, label="validation")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="loss")
    finite = [v for v in iter_losses if math.isfinite(v)]
    if finite and max(finite) / max(min(finite), 1e-12) > 50:
        ax_loss.set_yscale("log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    finish(fig, (ax_loss, ax_acc), path, title)


def plot_comparison(curves: dict[str, tuple[list[float], list[dict[str, Any]]]], out: Path) -> None:
    """loss.png: per-step training loss (smoothed); accuracy.png: train and validation accuracy per epoch."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, (losses, _) in curves.items():
        if losses:
            k = max(1, len(losses) // 50)  # moving average over ~2% of the run
            smooth = np.convolve(np.asarray(losses, dtype=float), np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(smooth)) + k - 1, smooth, label=name, lw=1.2)
    ax.set(xlabel="iteration", ylabel="training loss (moving average)", yscale="log",
           title="Training loss, same init and batches")
    ax.legend(fontsize=8)
    save_figure(fig, out / "loss.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (name, (_, history)) in enumerate(curves.items()):
        epochs = [int(h["epoch"]) for h in history]
        color = f"C{i % 10}"
        ax.plot(epochs, [float(h["val_accuracy"]) for h in history], color=color, label=f"{name} (val)")
        ax.plot(epochs, [float(h["train_accuracy"]) for h in history], color=color, ls=":", lw=1)
    ax.set(xlabel="epoch", ylabel="accuracy", title="Validation (solid) and training (dotted) accuracy")
    ax.legend(fontsize=8)
    save_figure(fig, out / "accuracy.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_scatter(rows: list[dict[str, Any]], space: dict[str, Any], path: Path) -> None:
    """Validation accuracy against each numeric hyperparameter (log x for log ranges), coarse vs fine."""
    plt = pyplot()

    dims = [d for d in space.values() if d.choices is None] or list(space.values())
    done = [r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None]
    fig, axes = plt.subplots(1, len(dims), figsize=(4.6 * len(dims), 3.8), squeeze=False, sharey=True)
    for ax, dim in zip(axes[0], dims):  # noqa: B905
        for stage, color in (("coarse", "C0"), ("fine", "C3")):
            pts = [r for r in done if r.get("study", "").endswith("-fine") == (stage == "fine")]
            if pts:
                ax.scatter([r[dim.name] for r in pts], [r["value"] for r in pts], s=22, color=color,
                           alpha=0.8, label=stage)
        if dim.log:
            ax.set_xscale("log")
        if dim.choices is None:  # the whole searched range, as in the lecture's picture
            pad = (dim.high / dim.low) ** 0.03 if dim.log else 0.03 * (dim.high - dim.low)
            ax.set_xlim(*((dim.low / pad, dim.high * pad) if dim.log else (dim.low - pad, dim.high + pad)))
        ax.set_xlabel(dim.name)
    axes[0][0].set_ylabel("validation accuracy")
    if any(r.get("study", "").endswith("-fine") for r in done):
        axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{len(done)} trials")
    fig.tight_layout()
    save_figure(fig, ensure_dir(path.parent) / path.name, dpi=110, bbox_inches="tight")
    plt.close(fig)
