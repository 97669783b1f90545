"""The tables of a comparison, from its runs: one row per run (trials.csv), one per workload and optimizer
(results.csv), the per-epoch curves of the seed runs (curves.csv) and the performance profile (profile.csv).

Per workload and optimizer: the best setting is the tuning run of highest validation accuracy (the lowest
index among equals); its seed runs give the test accuracy's mean, standard deviation and 95% t interval
(:mod:`.stats`, clipped to [0, 1]); the time to target is the median over the seeds, ``not reached`` when
the median run never reached it. Within a workload the optimizers are ranked by mean test accuracy, and
each is compared with the first by Welch's test: ``significantly worse`` when ``p < 0.05``, ``within seed
noise`` otherwise.

>>> run = {"val_curve": [0.5, 0.9], "epoch_seconds": [1.0, 1.0], "steps_per_epoch": 10,
...        "val_accuracy": 0.9, "test_accuracy": 0.88}
>>> pair = Pair("spiral", "sgd", [{"index": 0, "seed": 0, "setting": {"lr": 0.1}, **run}],
...             [{"index": 1, "seed": 1, "setting": {"lr": 0.1}, **run}], target=0.8)
>>> row = result_rows([pair])[0]  # budget 1: the tuning run counts as a seed run
>>> row["best_lr"], row["test_mean"], row["steps_to_target"], row["reached"]
(0.1, 0.88, 20.0, '2/2')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .profile import TAUS_REPORTED, performance_ratios, profile, tau_grid
from .runner import time_to_target
from .stats import median, summarize, welch_p_value

NOT_REACHED = "not reached"
ALPHA = 0.05  # significance level of the comparisons with the best optimizer
ACCURACY = (0.0, 1.0)  # the range of an accuracy: the reported intervals are clipped to it


@dataclass
class Pair:
    """One optimizer on one workload: its tuning runs (plan order) and seed runs (the best setting's)."""

    workload: str
    optimizer: str
    tuning: list[dict[str, Any]]
    seeds: list[dict[str, Any]]
    target: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> dict[str, Any]:
        return max(self.tuning, key=lambda r: (r["val_accuracy"], -r["index"]))


def _time(value: float) -> float | str:
    return NOT_REACHED if math.isinf(value) else value


def _targets(run: Mapping[str, Any], target: float | None) -> dict[str, Any]:
    if target is None:
        return {"steps_to_target": "", "seconds_to_target": ""}
    steps, seconds = time_to_target(run, target)
    return {"steps_to_target": _time(steps), "seconds_to_target": _time(seconds)}


def trial_rows(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """One row per run: workload, optimizer, phase, index, seed, the setting, accuracies, time to target."""
    rows = []
    for pair in pairs:
        for phase, runs in (("tuning", pair.tuning), ("seeds", pair.seeds)):
            for run in runs:
                rows.append({"workload": pair.workload, "optimizer": pair.optimizer, "phase": phase,
                             "index": run["index"], "seed": run["seed"], **run["setting"],
                             "val_accuracy": run["val_accuracy"], "test_accuracy": run["test_accuracy"],
                             **_targets(run, pair.target), "epochs": len(run["val_curve"]),
                             "diverged": bool(run.get("diverged", False)),
                             "seconds": round(math.fsum(run["epoch_seconds"]), 3)})
    return rows


def final_runs(pair: Pair) -> list[dict[str, Any]]:
    """The runs the test accuracy is reported over: the seed runs, with the tuning run first when the
    budget is 1 (nothing was selected on it, so it is an unbiased run of the setting)."""
    return ([pair.tuning[0]] if len(pair.tuning) == 1 else []) + pair.seeds


def result_rows(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """One row per workload and optimizer, ranked within each workload by mean test accuracy."""
    rows = []
    for pair in pairs:
        runs = final_runs(pair)
        tests = [r["test_accuracy"] for r in runs]
        s = summarize(tests, bounds=ACCURACY)
        best = pair.best
        row: dict[str, Any] = {"workload": pair.workload, "optimizer": pair.optimizer,
                               **{f"best_{k}": v for k, v in best["setting"].items()},
                               "best_val_accuracy": best["val_accuracy"], "seeds": s["n"],
                               "test_mean": s["mean"], "test_std": s["std"], "ci_low": s["ci_low"],
                               "ci_high": s["ci_high"], "steps_to_target": "", "seconds_to_target": "",
                               "reached": ""}
        if pair.target is not None:
            times = [time_to_target(r, pair.target) for r in runs]
            row["steps_to_target"] = _time(median([t[0] for t in times]))
            row["seconds_to_target"] = _time(median([t[1] for t in times]))
            row["reached"] = f"{sum(math.isfinite(t[0]) for t in times)}/{len(times)}"
        row["num_parameters"] = runs[0].get("num_parameters", "")
        row["_tests"] = tests
        rows.append(row)
    return _ranked(rows)


def _ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        group = sorted((r for r in rows if r["workload"] == workload), key=lambda r: -r["test_mean"])
        best_tests = group[0]["_tests"]
        for rank, row in enumerate(group, 1):
            tests = row.pop("_tests")
            p = math.nan if rank == 1 else welch_p_value(best_tests, tests)
            verdict = ("best" if rank == 1 else "" if math.isnan(p)
                       else "significantly worse" if p < ALPHA else "within seed noise")
            out.append({**row, "rank": rank, "p_vs_best": p, "vs_best": verdict})
    return out


def curve_rows(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """The per-epoch validation accuracy and training loss of every final run (the report's bands)."""
    rows = []
    for pair in pairs:
        for run in final_runs(pair):
            for epoch, (acc, loss) in enumerate(zip(run["val_curve"], run.get("train_loss_curve") or [])):
                rows.append({"workload": pair.workload, "optimizer": pair.optimizer, "seed": run["seed"],
                             "epoch": epoch + 1, "val_accuracy": acc, "train_loss": loss})
    return rows


def _times(rows: Sequence[Mapping[str, Any]], measure: str) -> dict[str, dict[str, float]]:
    times: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.get("reached"):
            value = r[f"{measure}_to_target"]
            times.setdefault(r["workload"], {})[r["optimizer"]] = math.inf if value == NOT_REACHED else float(value)
    return times


def profile_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The performance profile over the workloads, by seconds and by steps to target: per optimizer, each
    workload's ratio to the fastest and ``rho(tau)`` at tau = 1, 2, 4. Empty without targets."""
    out = []
    for measure in ("seconds", "steps"):
        ratios = performance_ratios(_times(rows, measure))
        if not ratios:
            return []
        for optimizer, fractions in profile(ratios, TAUS_REPORTED).items():
            out.append({"measure": measure, "optimizer": optimizer,
                        **{f"rho({tau:g})": f for tau, f in zip(TAUS_REPORTED, fractions)},
                        **{f"ratio {w}": ratios[w].get(optimizer, math.inf) for w in ratios}})
    return out


def profile_curves(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """For the report's picture, per measure: ``taus`` and ``rho`` (optimizer -> fractions)."""
    curves = {}
    for measure in ("seconds", "steps"):
        ratios = performance_ratios(_times(rows, measure))
        if ratios:
            taus = tau_grid(ratios)
            curves[measure] = {"taus": taus, "rho": profile(ratios, taus)}
    return curves
