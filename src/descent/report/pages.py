"""The reports descent writes: one self-contained HTML page per training run, per optimizer comparison and
per search, built from the files those commands wrote (metrics.json, history.csv, results.csv, PNGs)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DescentError
from .curves import pyplot
from .html import _is_number, figure, findings, pictures, read_csv, table, write_report
from .sharpness import sharpness_figure


def write_run_report(run_dir: str | os.PathLike) -> Path:
    """run_dir/report.html from metrics.json, history.csv, the PNGs there and the monitor's findings."""
    run = Path(run_dir)
    metrics_path = run / "metrics.json"
    if not metrics_path.is_file():
        raise DescentError(f"no metrics.json in {str(run)!r}: is it a training run folder?")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    cfg = metrics.get("config", {})
    headline = [{"metric": k, "value": v} for k, v in metrics.items() if not isinstance(v, (dict, list))]
    sections = [("Result", table(headline))]
    monitor = metrics.get("monitor") or {}
    if monitor.get("findings"):
        sections.append(("Babysitting checks", findings(monitor["findings"])))
    sections.append(("Curves", pictures(run) or "<p>(no pictures)</p>"))
    if monitor.get("series"):
        sections.append(("Inside the network", monitor_figures(monitor["series"])))
    sharpness = sharpness_figure(run)
    if sharpness is not None:
        sections.append(("Sharpness against 2/lr", sharpness))
    if (run / "history.csv").is_file():
        sections.append(("History (per epoch)", table(read_csv(run / "history.csv"))))
    if cfg:
        sections.append(("Configuration", table(config_rows(cfg))))
    title = f"descent run: {_name(cfg.get('optimizer'))} on {_name(cfg.get('data'))}".strip()
    return write_report(run / "report.html", title, sections)


def monitor_figures(series: Mapping[str, Any]) -> str:
    """Plots of the monitor's samples: update/weight ratio, gradient norm, activation std, dead ReLUs."""
    plt = pyplot()
    steps = series.get("step", [])
    panels = [("update_ratio", "update / weight ratio", True), ("grad_norm", "gradient norm", True),
              ("act_std", "activation std", False), ("dead_fraction", "dead ReLU fraction", False)]
    panels = [p for p in panels if series.get(p[0])]
    if not steps or not panels:
        return "<p>(no samples)</p>"
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    for ax, (key, label, log) in zip(axes[0], panels, strict=False):
        for layer, values in series[key].items():
            ax.plot(steps[: len(values)], values, label=layer)
        if key == "update_ratio":
            ax.axhspan(1e-4, 1e-2, color="green", alpha=0.08)
            ax.axhline(1e-3, color="green", lw=0.8, ls="--")
        ax.set_yscale("log" if log else "linear")
        ax.set_xlabel("step")
        ax.set_title(label)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return figure(fig, "monitor series")


def write_comparison_report(out_dir: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                            title: str = "descent compare") -> Path:
    """out_dir/report.html: the results table (linking each run's own report) and out_dir's PNGs."""
    out = Path(out_dir)
    links = {str(r["optimizer"]): f"{r['optimizer']}/report.html" for r in rows
             if (out / str(r["optimizer"]) / "report.html").is_file()}
    sections = [("Results", table(rows, links=links)), ("Curves", pictures(out, first=("loss.png",)))]
    return write_report(out / "report.html", title, sections)


def write_search_report(out_dir: str | os.PathLike, rows: Sequence[Mapping[str, Any]],
                        best: Mapping[str, Any] | None, title: str = "descent search") -> Path:
    """out_dir/report.html: the best trial, the scatter plot(s) and one row per trial, best first."""
    out = Path(out_dir)
    ranked = sorted(rows, key=lambda r: -float(r["value"]) if _is_number(r.get("value")) else math.inf)
    sections = [("Best trial", table([best]) if best else "<p>(no finished trial)</p>"),
                ("Validation accuracy against the hyperparameters", pictures(out)),
                ("All trials (best first)", table(ranked))]
    return write_report(out / "report.html", title, sections)


def config_rows(cfg: Mapping[str, Any]) -> list[dict[str, str]]:
    """The configuration tree as ``section.field`` / JSON value rows."""
    rows = []
    for key, value in cfg.items():
        if isinstance(value, Mapping) and key != "hyper":
            rows += [{"field": f"{key}.{k}", "value": v} for k, v in
                     ((r["field"], r["value"]) for r in config_rows(value))]
        else:
            rows.append({"field": key, "value": json.dumps(value)})
    return rows


def _name(part: Any) -> str:
    """A section's name (``{"name": "adam", ...}``) or a flat value (descent 0.1's flat configs)."""
    return str(part.get("name", "")) if isinstance(part, Mapping) else str(part or "")
