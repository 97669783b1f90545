"""``descent.compare``: which optimizer should I use? A comparison a careful practitioner can trust.

For each workload (dataset and model) and each optimizer, two phases of runs:

1. **Tuning**: ``budget`` settings (:mod:`~descent.comparison.space`: the registry's, then quasi-random Sobol
   points, log-uniform over a documented range around it), each trained on the base seed and judged on
   validation accuracy.
2. **Seeds**: the best setting retrained on ``seeds`` new seeds (initialization and batch order; the data
   split stays the base seed's), so the reported test accuracy is unbiased by the selection. With
   ``budget=1`` nothing was selected, and the tuning run counts as the first seed.

The test accuracy is reported as mean, standard deviation and 95% t interval over the seeds; with a
``target``, the steps and seconds until the validation accuracy first reached it (median over the seeds); with
several workloads, the performance profile of the times to target (Dolan-Moré, as AlgoPerf). This follows
DeepOBS (tune the lr, rerun the best over seeds), Schmidt et al. 2021 (tuning budgets) and AlgoPerf.

Runs are trials of Optuna studies (:mod:`.studies`) in ``storage``: workers sharing it share the runs, and
an interrupted comparison resumes from its studies. The same call gives the same table (apart from seconds).

>>> import math
>>> rows = compare(data="spiral", optimizers=["sgd", "adam"], budget=2, seeds=2, target=0.6,
...                model="mlp", epochs=2)
>>> [(r["optimizer"], r["seeds"], r["ci_low"] <= r["test_mean"] <= r["ci_high"]) for r in rows]
[('adam', 2, True), ('sgd', 2, True)]
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import checks
from .._io import ensure_dir, write_csv
from ..config import TrainConfig
from ..optim.registry import LECTURE_ORDER, get
from ..report.compare_page import write_compare_report
from ..search import HEARTBEAT, default_storage, open_storage
from .results import Pair, curve_rows, profile_curves, profile_rows, result_rows, trial_rows
from .runner import check, train_once
from .space import parse_tune, to_flat, tuning_points
from .studies import Phase, drain, memory_storage
from .workload import Workload, workload

# one torch thread: a run's numbers must not depend on the machine's load (descent.train.threads)
BASE = TrainConfig().replace(epochs=8, threads=1, progress=False, monitor=False, checkpoint_every=0)
# fields that change how a run is shown, not what it computes: left out of a study's protocol
_COSMETIC = ("progress", "monitor", "tensorboard", "checkpoint_every")
OnRun = Callable[[dict[str, Any]], None]


def compare(model: str | Callable[..., Any] | None = None, data: Any = "mnist1d",
            optimizers: Sequence[str] = LECTURE_ORDER, budget: int = 1, seeds: int = 1,
            target: float | Sequence[float | None] | None = None, tune: str | Sequence[str] = "lr",
            out: str | os.PathLike | None = None, storage: str | None = None, config: TrainConfig | None = None,
            sampler_seed: int = 0, on_run: OnRun | None = None, on_wait: Callable[[int], None] | None = None,
            heartbeat: int = HEARTBEAT, report: bool = True, **flat: Any) -> list[dict[str, Any]]:
    """Compare ``optimizers`` on ``data`` with ``model``; returns the results table (results.csv's rows).

    ``model``: ``None`` (descent's model for the data), a flat ``--model`` name (``mlp``), ``FILE.py:FUNCTION``
    or a function ``(input_shape, num_classes) -> nn.Module``. ``data``: a dataset name, ``FILE.py:FUNCTION``,
    a function returning ``(x_train, y_train, x_test, y_test)``, those arrays, or a list of these (several
    workloads). ``target``: one validation accuracy, or one per workload. ``config`` and ``flat`` (flat
    names: ``epochs=4``) set the training; ``out``: write trials.csv, results.csv, curves.csv, profile.csv
    and (``report``) report.html there, the study in ``out/study.db`` unless ``storage`` is given.
    """
    if isinstance(model, str) and model in ("auto", "mlp", "cnn"):
        flat, model = {**flat, "model": model}, None
    base = (config or BASE).replace(**flat)
    checks.positive_int("budget", budget)
    checks.positive_int("seeds", seeds)
    names = [get(n).name for n in optimizers]
    if not names:
        raise ValueError("invalid optimizers=[]: must name at least one optimizer")
    datas = list(data) if isinstance(data, list) else [data]
    targets = _targets(target, len(datas))
    tuned = parse_tune(tune if isinstance(tune, str) else ",".join(tune))
    workloads = _unique([workload(d, base, model) for d in datas])
    for w in workloads:  # every value checked and every model probed before anything is written
        for name in names:
            check(base.replace(optimizer=name, lr=None), w)
        w.probe()
    if out is not None:
        out = ensure_dir(out)
    store = (memory_storage() if out is None and storage is None
             else open_storage(storage or default_storage(out), heartbeat))
    plan = _Plan(store, base, tuned, budget, seeds, sampler_seed, on_run)
    tuning = {(w.name, n): plan.tuning_phase(w, n) for w in workloads for n in names}
    drain(list(tuning.values()), plan.report, on_wait)
    seeding = {(w.name, n): plan.seeds_phase(w, n, tuning[(w.name, n)]) for w in workloads for n in names}
    drain(list(seeding.values()), plan.report, on_wait)
    pairs = [Pair(w.name, n, tuning[(w.name, n)].results(), seeding[(w.name, n)].results(), t)
             for w, t in zip(workloads, targets) for n in names]
    rows = result_rows(pairs)
    if out is not None:
        write_outputs(Path(out), pairs, rows, report)
    return rows


def _targets(target: Any, count: int) -> list[float | None]:
    values = list(target) if isinstance(target, (list, tuple)) else [target] * count
    if len(values) != count:
        raise checks.invalid("target", target, f"one accuracy, or one per workload ({count})")
    for value in values:
        if value is not None:
            checks.in_unit_interval("target", value, closed=True)
    return values


def _unique(workloads: list[Workload]) -> list[Workload]:
    """Workloads named apart (a study per name): a repeated name gets ``#2``, ``#3``..."""
    seen: dict[str, int] = {}
    for w in workloads:
        seen[w.name] = seen.get(w.name, 0) + 1
        if seen[w.name] > 1:
            w.name = f"{w.name}#{seen[w.name]}"
    return workloads


class _Plan:
    """The studies of one comparison: their names, planned runs, protocols and runners."""

    def __init__(self, store: Any, base: TrainConfig, tune: tuple[str, ...], budget: int, seeds: int,
                 sampler_seed: int, on_run: OnRun | None) -> None:
        self.store, self.base, self.tune, self.budget, self.seeds = store, base, tune, budget, seeds
        self.sampler_seed, self.on_run = sampler_seed, on_run
        self.meta: dict[str, dict[str, Any]] = {}

    def _protocol(self, w: Workload, name: str, **more: Any) -> dict[str, Any]:
        config = {k: v for k, v in self.base.replace(optimizer=name, lr=None).flat().items() if k not in _COSMETIC}
        return {"config": config, "data": w.spec, "model": w.model, "tune": list(self.tune),
                "sampler_seed": self.sampler_seed, **more}

    def _runner(self, w: Workload, name: str) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        hyper = dict(self.base.optimizer.hyper)

        def run(planned: Mapping[str, Any]) -> dict[str, Any]:
            cfg = self.base.replace(**{"optimizer": name, "lr": None, **to_flat(dict(planned["setting"]), hyper)})
            return train_once(w, cfg, int(planned["seed"]))

        return run

    def _phase(self, study: str, w: Workload, name: str, kind: str, plan: list[dict[str, Any]],
               protocol: dict[str, Any]) -> Phase:
        phase = Phase(self.store, study, plan, protocol, self._runner(w, name))
        self.meta[study] = {"workload": w.name, "optimizer": name, "phase": kind, "of": len(plan)}
        return phase

    def tuning_phase(self, w: Workload, name: str) -> Phase:
        entry = get(name)
        points = tuning_points(entry, self.tune, entry.lr, self.budget, self.sampler_seed,
                               hyper=dict(self.base.optimizer.hyper))
        plan = [{"index": i, "seed": self.base.run.seed, "setting": s} for i, s in enumerate(points)]
        return self._phase(f"compare:{w.name}:{name}:tuning", w, name, "tuning", plan, self._protocol(w, name))

    def seeds_phase(self, w: Workload, name: str, tuning: Phase) -> Phase:
        """The seeds phase of the best tuning setting (its own study: a larger budget may find another)."""
        runs = tuning.results()
        best = max(runs, key=lambda r: (r["val_accuracy"], -r["index"]))
        setting = best["setting"]
        count = self.seeds - (self.budget == 1)  # budget 1: the tuning run (base seed) is the first seed run
        plan = [{"index": k, "seed": self.base.run.seed + 1 + k, "setting": setting} for k in range(count)]
        key = hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:10]
        return self._phase(f"compare:{w.name}:{name}:seeds:{key}", w, name, "seeds", plan,
                           self._protocol(w, name, setting=setting))

    def report(self, phase: Phase, run: Mapping[str, Any]) -> None:
        if self.on_run is not None:
            self.on_run({**self.meta[phase.name], **run})


def write_outputs(out: Path, pairs: Sequence[Pair], rows: list[dict[str, Any]], report: bool = True) -> None:
    """trials.csv, results.csv, curves.csv, profile.csv (several workloads with targets) and report.html."""
    write_csv(out / "trials.csv", trial_rows(pairs))
    write_csv(out / "results.csv", rows)
    curves = curve_rows(pairs)
    write_csv(out / "curves.csv", curves)
    several = len({p.workload for p in pairs}) > 1
    profile = profile_rows(rows) if several else []
    if profile:
        write_csv(out / "profile.csv", profile)
    if report:
        write_compare_report(out, trial_rows(pairs), rows, curves, profile_curves(rows) if several else {})
