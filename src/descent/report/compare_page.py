"""The report of ``descent compare``: one self-contained page with the ranking and its 95% intervals, the
learning-rate sensitivity of each optimizer (validation accuracy of every tuning run against its lr), the
validation curves of the seed runs (mean, with the band from the lowest to the highest seed), the performance
profile when there are several workloads, and the tables behind them."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .curves import pyplot
from .html import figure, table, write_report

_SHOWN = ("rank", "optimizer", "best_lr", "best_val_accuracy", "seeds", "test_mean", "test_std", "ci_low",
          "ci_high", "vs_best", "p_vs_best", "steps_to_target", "seconds_to_target", "reached", "num_parameters")


def _workloads(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(r["workload"]) for r in rows))


def _panels(count: int, width: float = 5.2, height: float = 3.6) -> tuple[Any, Any]:
    fig, axes = pyplot().subplots(1, count, figsize=(width * count, height), squeeze=False)
    return fig, axes[0]


def ranking_figure(results: Sequence[Mapping[str, Any]]) -> str:
    """Mean test accuracy with its 95% interval, one row per optimizer, best on top, per workload."""
    names = _workloads(results)
    fig, axes = _panels(len(names), height=0.45 * max(len(results) / len(names), 3) + 1.2)
    for ax, name in zip(axes, names):
        group = sorted((r for r in results if r["workload"] == name), key=lambda r: r["test_mean"])
        ys = range(len(group))
        means = [r["test_mean"] for r in group]
        low = [r["test_mean"] - r["ci_low"] if math.isfinite(r["ci_low"]) else 0.0 for r in group]
        high = [r["ci_high"] - r["test_mean"] if math.isfinite(r["ci_high"]) else 0.0 for r in group]
        ax.errorbar(means, ys, xerr=[low, high], fmt="o", capsize=4)
        ax.set_yticks(list(ys), [r["optimizer"] for r in group])
        ax.set(xlabel="test accuracy (mean, 95% interval)", title=name)
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return figure(fig, "ranking with 95% intervals")


def _by_optimizer(rows: Sequence[Mapping[str, Any]], workload: str) -> Iterator[tuple[str, str, list[Any]]]:
    """Each optimizer of ``workload`` (first-seen order) with its colour and its rows."""
    mine = [r for r in rows if r["workload"] == workload]
    for i, optimizer in enumerate(dict.fromkeys(r["optimizer"] for r in mine)):
        yield optimizer, f"C{i % 10}", [r for r in mine if r["optimizer"] == optimizer]


def sensitivity_figure(trials: Sequence[Mapping[str, Any]]) -> str:
    """Validation accuracy against the learning rate of every tuning run, one line per optimizer."""
    names = _workloads(trials)
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names):
        for optimizer, color, runs in _by_optimizer([t for t in trials if t["phase"] == "tuning"], name):
            points = sorted((t["lr"], t["val_accuracy"]) for t in runs)
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=4, color=color, label=optimizer)
        ax.set(xscale="log", xlabel="learning rate", ylabel="validation accuracy", title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figure(fig, "learning-rate sensitivity")


def curves_figure(curves: Sequence[Mapping[str, Any]]) -> str:
    """Validation accuracy per epoch: the mean over seeds, the band from the lowest to the highest seed."""
    names = _workloads(curves)
    fig, axes = _panels(len(names))
    for ax, name in zip(axes, names):
        for optimizer, color, rows in _by_optimizer(curves, name):
            by_epoch: dict[int, list[float]] = {}
            for c in rows:
                by_epoch.setdefault(int(c["epoch"]), []).append(float(c["val_accuracy"]))
            epochs = sorted(by_epoch)
            mean = [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs]
            ax.plot(epochs, mean, color=color, label=optimizer)
            ax.fill_between(epochs, [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs],
                            color=color, alpha=0.18, lw=0)
        ax.set(xlabel="epoch", ylabel="validation accuracy", title=name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figure(fig, "validation curves across seeds")


def profile_figure(profiles: Mapping[str, Mapping[str, Any]]) -> str:
    """The performance profile rho(tau), by seconds and by steps to the target."""
    fig, axes = _panels(len(profiles))
    for ax, (measure, curve) in zip(axes, profiles.items()):
        for i, (optimizer, rho) in enumerate(curve["rho"].items()):
            ax.step(curve["taus"], rho, where="post", color=f"C{i % 10}", label=optimizer)
        ax.set(xscale="log", xlabel=f"tau (x the fastest {measure} to target)", ylim=(-0.03, 1.03),
               ylabel="fraction of workloads within tau", title=f"performance profile ({measure})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return figure(fig, "performance profile")


def write_compare_report(out_dir: str | os.PathLike, trials: Sequence[Mapping[str, Any]],
                         results: Sequence[Mapping[str, Any]], curves: Sequence[Mapping[str, Any]],
                         profiles: Mapping[str, Mapping[str, Any]] | None = None,
                         title: str = "descent compare") -> Path:
    """out_dir/report.html from the comparison's tables (see :mod:`descent.comparison.results`)."""
    sections = []
    for name in _workloads(results):
        rows = [r for r in results if r["workload"] == name]
        sections.append((f"Ranking on {name} (test accuracy, 95% t interval over seeds)",
                         table(rows, [c for c in _SHOWN if any(c in r for r in rows)])))
    sections.append(("Ranking with intervals", ranking_figure(results)))
    sections.append(("Learning-rate sensitivity (tuning runs, base seed)", sensitivity_figure(trials)))
    if curves:
        sections.append(("Validation curves (mean and range over seeds)", curves_figure(curves)))
    if profiles:
        sections.append(("Performance profile over the workloads", profile_figure(profiles)))
    sections.append(("Every run", table(trials)))
    return write_report(Path(out_dir) / "report.html", title, sections)
