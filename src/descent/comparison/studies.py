"""The runs of a comparison as trials of Optuna studies, so that several workers share them and an interrupted
comparison resumes where it stopped.

Each phase of each (workload, optimizer) pair is one study of the storage (``descent.search.open_storage``:
heartbeats, and a dead worker's trial queued again with the same plan). Its trials are planned up front: the
worker that creates the study enqueues one waiting trial per planned run (``index``, ``seed``, ``setting`` in
the trial's user attributes) and records the study's ``protocol`` (the configuration it compares under). Any
worker then runs waiting trials until none is left, and waits for its peers' running ones. A planned run
with no trial waiting, running or complete (its worker was interrupted) is enqueued again. The result of
index ``i`` is that of its first complete trial, so the outcome never depends on which worker ran what.

A study whose recorded protocol differs from the one asked for (another ``--epochs``, another model) is
refused by name: its runs answer another question.

>>> store = memory_storage()
>>> plan = [{"index": i, "seed": 0, "setting": {"lr": lr}} for i, lr in enumerate([0.1, 0.3])]
>>> phase = Phase(store, "spiral:sgd:tuning", plan, {"epochs": 2},
...               runner=lambda planned: {"val_accuracy": planned["setting"]["lr"]})
>>> drain([phase])
>>> [run["val_accuracy"] for run in phase.results()]
[0.1, 0.3]
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import DescentError

Runner = Callable[[Mapping[str, Any]], Mapping[str, Any]]  # planned attributes -> the run's numbers
PLAN_KEYS = ("index", "seed", "setting")


def memory_storage() -> Any:
    """An Optuna storage in this process's memory (the Python API without an output folder)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed run is reported by its error
    return optuna.storages.InMemoryStorage()


class Phase:
    """One study: its planned runs, created and enqueued by the first worker, loaded by the others."""

    def __init__(self, store: Any, name: str, plan: Sequence[Mapping[str, Any]], protocol: Mapping[str, Any],
                 runner: Runner) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed run is reported by its error
        self.name, self.plan, self.runner = name, list(plan), runner
        key = json.dumps(protocol, sort_keys=True, default=str)
        try:
            self.study = optuna.create_study(storage=store, study_name=name, direction="maximize")
        except optuna.exceptions.DuplicatedStudyError:
            self.study = optuna.load_study(study_name=name, storage=store)
            self._check(key)
            self._enqueue_missing()
        else:
            self.study.set_user_attr("protocol", key)
            for item in self.plan:
                self.study.enqueue_trial({}, user_attrs=dict(item), skip_if_exists=False)

    def _check(self, key: str) -> None:
        for _ in range(100):  # the creating worker records the protocol right after creating the study
            found = self.study.user_attrs.get("protocol")
            if found is not None:
                break
            time.sleep(0.1)
        if found is not None and found != key:
            before, now = json.loads(found), json.loads(key)
            diff = next((k for k in sorted(now) if before.get(k) != now.get(k)), "?")
            raise DescentError(f"the study {self.name!r} was run with {diff}={before.get(diff)!r}, not "
                               f"{now.get(diff)!r}: use another --out (or --storage), or the same flags")

    # ------------------------------------------------------------------------------------------- state

    def _trials(self, *states: Any) -> list[Any]:
        return self.study.get_trials(deepcopy=False, states=states or None)

    def _complete(self) -> dict[int, Any]:
        from optuna.trial import TrialState

        done: dict[int, Any] = {}
        for t in sorted(self._trials(TrialState.COMPLETE), key=lambda t: t.number):
            if "index" in t.user_attrs:
                done.setdefault(int(t.user_attrs["index"]), t)
        return done

    def _enqueue_missing(self) -> int:
        """Enqueue again each planned run that no trial holds (waiting, running or complete)."""
        from optuna.trial import TrialState

        held = {int(t.user_attrs["index"]) for t in self._trials(TrialState.WAITING, TrialState.RUNNING,
                                                                 TrialState.COMPLETE) if "index" in t.user_attrs}
        missing = [item for item in self.plan if int(item["index"]) not in held]
        for item in missing:
            self.study.enqueue_trial({}, user_attrs=dict(item), skip_if_exists=False)
        return len(missing)

    def done(self) -> bool:
        """Whether every planned run has a complete trial."""
        return {int(item["index"]) for item in self.plan} <= set(self._complete())

    def results(self) -> list[dict[str, Any]]:
        """The planned runs in plan order, each with its recorded numbers (``None`` if not run yet)."""
        done = self._complete()
        return [({**dict(done[int(i["index"])].user_attrs), **dict(i)} if int(i["index"]) in done else None)
                for i in self.plan]

    # ------------------------------------------------------------------------------------------- running

    def run_waiting(self, on_run: Callable[[Phase, Mapping[str, Any]], None] | None = None) -> bool:
        """Run one waiting trial of this study; False when none is waiting."""
        import optuna
        from optuna.trial import TrialState

        if not self._trials(TrialState.WAITING):
            return False
        ran: dict[str, Any] = {}

        def objective(trial: Any) -> float:
            planned = {k: trial.user_attrs[k] for k in PLAN_KEYS if k in trial.user_attrs}
            if "index" not in planned:  # a peer took the waiting trial first: this empty one is dropped
                raise optuna.TrialPruned()
            result = dict(self.runner(planned))
            for key, value in result.items():
                trial.set_user_attr(key, value)
            ran.update(planned, **result)
            return float(result["val_accuracy"])

        try:
            self.study.optimize(objective, n_trials=1)
        except ValueError as error:
            # SQLite has no row locks: two workers can both take one waiting trial, and the slower one's
            # record is refused once the faster finished it. Its result stands (runs are deterministic).
            if not str(error).startswith("Cannot tell a COMPLETE trial"):
                raise
            return True
        if ran and on_run is not None:
            on_run(self, ran)
        return True

    def heal(self) -> tuple[int, int]:
        """Fail the trials of dead workers (queued again by the storage), enqueue lost runs; returns the
        numbers of trials waiting and running now."""
        import optuna
        from optuna.trial import TrialState

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)
        self._enqueue_missing()
        return len(self._trials(TrialState.WAITING)), len(self._trials(TrialState.RUNNING))


def drain(phases: Sequence[Phase], on_run: Callable[[Phase, Mapping[str, Any]], None] | None = None,
          on_wait: Callable[[int], None] | None = None, poll: float = 1.0) -> None:
    """Run every waiting trial of ``phases`` (study by study), then wait for the running ones of other
    workers, until every planned run of every study is complete; ``on_run(phase, run)`` after each run."""
    told = -1
    while True:
        for phase in phases:
            while phase.run_waiting(on_run):
                pass
        if all(phase.done() for phase in phases):
            return
        counts = [phase.heal() for phase in phases if not phase.done()]
        waiting, running = sum(c[0] for c in counts), sum(c[1] for c in counts)
        if waiting:
            continue
        if on_wait is not None and running != told:
            on_wait(running)
        told = running
        time.sleep(poll)
