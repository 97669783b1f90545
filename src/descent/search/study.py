"""Random and grid search over hyperparameters through Optuna, on a study stored on disk.

The lecture's advice (Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012):
sample hyperparameters at random, learning rate and regularization strength on a log scale, and search
coarse-to-fine: a few short trials over wide ranges, then more trials over ranges narrowed around the best.
With the same budget, a grid of ``K**d`` points tries only ``K`` values of the one parameter that matters;
random search tries a new value in every trial.

The study lives in an SQLite file (Optuna's RDB storage): every trial is committed in one transaction, so a
run killed at any moment leaves a consistent study, and a re-run adds its trials to it. Several workers may
share one study through ``storage`` (an RDB URL); their random draws are then seeded from the operating
system, so they never repeat each other's points.

Nothing finished is lost. Every running trial beats a heartbeat; a trial whose worker died (its heartbeat
older than ``3 * heartbeat`` seconds) is failed by the next worker to look (Optuna's ``fail_stale_trials``)
and queued again with the same parameters (``RetryFailedTrialCallback``). The worker that takes the retry
first asks ``recover`` whether the dead trial's training had finished (``descent search`` reads the trial
folder's ``metrics.json``): if so its result is recorded without training again (``recovered_from``), if not
the trial is re-run. Before it returns, a worker waits for the study's running trials (its peers', or a dead
worker's until its heartbeat goes stale) and runs any queued retries, so every worker's ``results.csv``
holds the whole study.

Relation to other tools: ``optuna.samplers.RandomSampler`` / ``GridSampler`` do the sampling; Keras Tuner's
``RandomSearch`` and scikit-learn's ``RandomizedSearchCV`` / ``GridSearchCV`` are the same two strategies.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._io import ensure_dir, write_csv
from ..errors import DescentError
from .space import Dimension, grid_points, narrow

STUDY_NAME = "search"
METHODS = ("random", "grid")
HEARTBEAT = 10  # seconds between heartbeats of a running trial; stale (worker dead) after 3 of them
MAX_RETRY = 3  # a trial whose worker died is queued again at most this many times

Objective = Callable[[dict[str, Any], str], "float | Mapping[str, Any]"]
# the user attributes of a trial whose worker died (``label``, ``out``) -> its result if training finished
Recover = Callable[[Mapping[str, Any]], "Mapping[str, Any] | None"]

# ---------------------------------------------------------------------------------------------- storage


def default_storage(out_dir: str | os.PathLike, workers: int = 1) -> str:
    """``OUT/study.db`` (SQLite), or for several workers (or a study begun by them) ``OUT/study.journal``."""
    journal = Path(out_dir).resolve() / "study.journal"
    if workers > 1 or journal.exists():
        return f"journal:{journal}"
    return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"


def open_storage(url: str, heartbeat: int = HEARTBEAT) -> Any:
    """Optuna storage with a heartbeat every ``heartbeat`` seconds: a trial silent for three beats is failed
    and queued again (``RetryHeartbeatStaleTrialCallback``). ``journal:PATH`` is a journal file shared by the
    workers of one host (:mod:`.storages`); anything else an RDB URL (``sqlite:///``, ``postgresql://``).
    Errors are one line."""
    import optuna

    from .storages import HeartbeatJournalStorage, HeartbeatRDBStorage, journal_path

    if journal_path(url) is not None:
        path = Path(journal_path(url))
        if not path.parent.is_dir():
            raise DescentError(f"cannot open storage {url!r}: the folder {path.parent} does not exist")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = next(iter(_retry_dead_trials(optuna).values()))
        return HeartbeatJournalStorage(str(path), heartbeat, 3 * heartbeat, retry)
    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return HeartbeatRDBStorage(url, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                                                  **_retry_dead_trials(optuna))
        except ModuleNotFoundError as e:
            raise DescentError(f"storage {url!r} needs the database driver {e.name!r}") from None
        except Exception as e:  # sqlalchemy raises its own OperationalError / ArgumentError / ...
            # two workers creating the same new database race on its schema: the loser retries
            racing = any(s in str(e) for s in ("already exists", "UNIQUE constraint", "database is locked"))
            if not racing or attempt == 5:
                raise DescentError(f"cannot open storage {url!r}: {_first_line(e)}") from None
            time.sleep(0.2 * (attempt + 1))


def _retry_dead_trials(optuna: Any) -> dict[str, Any]:
    """The storage argument that queues a dead worker's trial again (renamed in Optuna 4.9)."""
    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):
        return {"heartbeat_stale_trial_callback":
                optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=MAX_RETRY)}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# ---------------------------------------------------------------------------------------------- search


def run_search(objective: Objective, space: Mapping[str, Dimension], out_dir: str | os.PathLike, trials: int,
               method: str = "random", storage: str | None = None, coarse_to_fine: bool = False,
               seed: int = 0, study_name: str = STUDY_NAME,
               on_trial: Callable[[dict[str, Any]], None] | None = None, recover: Recover | None = None,
               heartbeat: int = HEARTBEAT, on_wait: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """Run ``trials`` more trials of ``objective(params, label)`` (higher is better); return all rows.

    ``objective`` returns the validation accuracy, or a dict holding ``val_accuracy`` and any other numbers
    to record; ``label`` names the trial uniquely (``search-0007``, ``search-fine-0002``).
    With ``coarse_to_fine`` the first ``trials - trials // 2`` trials search ``space`` and the rest search
    :func:`narrow` of it around the best coarse trials (a second study, ``<name>-fine``).
    ``out_dir/results.csv`` is rewritten after every trial. ``seed`` seeds the samplers unless ``storage``
    is given (shared by workers). ``recover`` (see the module docstring) finds the result of a trial whose
    worker died after its training; ``on_wait(n)`` is told when the search waits for ``n`` running trials.
    """
    if method not in METHODS:
        raise DescentError(f"unknown search method {method!r}; choose from {', '.join(METHODS)}")
    if trials <= 0:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    out = ensure_dir(out_dir)
    store = open_storage(storage or default_storage(out), heartbeat)
    stages = [(study_name, trials - trials // 2), (f"{study_name}-fine", trials // 2)] if coarse_to_fine \
        else [(study_name, trials)]
    names = [name for name, _ in stages]

    def write_results() -> list[dict[str, Any]]:
        return collect_rows(store, names, out)

    for i, (name, n) in enumerate(stages):
        stage_space = space if i == 0 else narrow(space, *_completed(store, study_name))
        if n > 0:
            # workers sharing a --storage must not draw the same points: seed them from the OS instead
            stage_seed = None if storage else seed
            stage = _Stage(objective, stage_space, store, name, method, n, stage_seed, out, recover,
                           write_results, on_trial)
            stage.run(n)
            stage.finish(poll=min(1.0, heartbeat / 2), on_wait=on_wait)
    rows = write_results()
    _share_results(rows, out)
    return rows


def study_rows(storage: str, out_dir: str | os.PathLike, coarse_to_fine: bool = False,
               study_name: str = STUDY_NAME, heartbeat: int = HEARTBEAT) -> list[dict[str, Any]]:
    """Every row of a study shared by workers; rewrites ``out_dir/results.csv`` and the other workers'."""
    out = Path(out_dir).resolve()
    names = [study_name, f"{study_name}-fine"] if coarse_to_fine else [study_name]
    rows = collect_rows(open_storage(storage, heartbeat), names, out)
    _share_results(rows, out)
    return rows


def _share_results(rows: Sequence[Mapping[str, Any]], out: Path) -> None:
    """Rewrite the results.csv of the other workers of the study (the folders its trials name), so that
    the last worker to finish leaves the whole study in every worker's folder."""
    for folder in {Path(str(r["out"])) for r in rows if r.get("out")} - {out.resolve()}:
        if (folder / "results.csv").is_file():
            try:
                write_csv(folder / "results.csv", list(rows))
            except OSError:  # a folder of another machine or user: its worker writes its own
                pass


class _Stage:
    """One study of the search: its sampler, its objective as Optuna sees it, and its end."""

    def __init__(self, objective: Objective, space: Mapping[str, Dimension], store: Any, name: str,
                 method: str, n: int, seed: int | None, out: Path, recover: Recover | None,
                 write_results: Callable[[], list], on_trial: Callable | None) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(storage=store, study_name=name, direction="maximize", load_if_exists=True)
        if method == "grid":
            self.study.sampler = _grid_sampler(self.study, space, n, seed)
        else:  # a re-run continues with a new seed so that it does not repeat earlier draws
            self.study.sampler = optuna.samplers.RandomSampler(seed=_offset(seed, len(self.study.trials)))
        self.objective, self.space, self.name, self.out = objective, space, name, str(out.resolve())
        self.recover, self.write_results, self.on_trial = recover, write_results, on_trial

    def run(self, n: int) -> None:
        """``n`` new trials; retries of dead workers' trials that come up on the way run besides them."""
        fresh = 0

        def count(study: Any, trial: Any) -> None:
            nonlocal fresh
            fresh += "failed_trial" not in trial.system_attrs
            if fresh >= n:
                study.stop()

        self.study.optimize(self._objective, callbacks=[self._after_trial, count])

    def _objective(self, trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in self.space.values()}
        record = self._recovered(dict(trial.user_attrs))  # a retry carries the dead trial's label and out
        if record is None:
            for key, value in (("label", f"{self.name}-{trial.number:04d}"), ("out", self.out)):
                trial.set_user_attr(key, value)
            self._wait_for_twin(trial, params)
            record = _earlier_result(self.study, params)
        if record is None:
            result = self.objective(params, trial.user_attrs["label"])
            record = dict(result) if isinstance(result, Mapping) else {"val_accuracy": float(result)}
        for key, value in record.items():
            trial.set_user_attr(key, value)
        return float(record["val_accuracy"])

    def _wait_for_twin(self, trial: Any, params: Mapping[str, Any]) -> None:
        """Wait while an earlier trial of another worker runs the same point (a grid's points go to trial
        numbers one by one, so only a refined or exhausted grid draws a running point again)."""
        from optuna.trial import TrialState

        def running_twin() -> bool:
            return any(t.number < trial.number and t.params == dict(params) for t in
                       self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))

        while running_twin():
            time.sleep(1.0)

    def _recovered(self, inherited: Mapping[str, Any]) -> dict[str, Any] | None:
        """The finished result of the dead trial this one retries, if ``recover`` finds one."""
        from optuna.trial import TrialState

        if self.recover is None or "label" not in inherited:
            return None
        found = self.recover(inherited)
        if found is None:
            return None
        dead = [t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
                if t.user_attrs.get("label") == inherited["label"]]
        return {**found, "recovered_from": dead[-1] if dead else -1}

    def _after_trial(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        rows = self.write_results()
        if self.on_trial is not None and trial.state in (TrialState.COMPLETE, TrialState.FAIL):
            self.on_trial(next((r for r in rows if r["trial"] == trial.number and r["study"] == self.name), {}))

    def finish(self, poll: float, on_wait: Callable[[int], None] | None) -> None:
        """Run the study's queued retries and wait for its running trials, until neither is left."""
        import optuna
        from optuna.trial import TrialState

        told = -1
        while True:
            with warnings.catch_warnings():  # dead workers' trials: failed, queued again
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)
            states = [t.state for t in self.study.get_trials(deepcopy=False,
                                                             states=(TrialState.WAITING, TrialState.RUNNING))]
            waiting, running = states.count(TrialState.WAITING), states.count(TrialState.RUNNING)
            if waiting:
                self.study.optimize(self._objective, n_trials=1, callbacks=[self._after_trial])
            elif not running:
                return
            else:
                if on_wait is not None and running != told:
                    on_wait(running)
                told = running
                time.sleep(poll)


def _offset(seed: int | None, done: int) -> int | None:
    """A re-run continues with a new seed (``seed + trials so far``) so it does not repeat earlier draws."""
    return None if seed is None else seed + done


def _grid_sampler(study: Any, space: Mapping[str, Dimension], n: int, seed: int | None) -> Any:
    """The grid of the study's first run (``K`` points a range); once it is all visited, the nested grid of
    ``2K - 1`` points, so a re-run refines the grid. Points tried before are not trained again."""
    import optuna

    points = study.user_attrs.get("grid_points") or grid_points(space, n)
    while True:
        grid = {d.name: d.grid(points) for d in space.values()}
        sampler = optuna.samplers.GridSampler(grid, seed=_offset(seed, len(study.trials)))
        if not sampler.is_exhausted(study) or points > 1000:
            break
        points = 2 * points - 1
    study.set_user_attr("grid_points", points)
    return sampler


def _earlier_result(study: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The result of a finished trial with exactly these parameters (a refined grid revisits them)."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.params == dict(params) and "val_accuracy" in t.user_attrs:
            return {**t.user_attrs, "repeat_of": t.user_attrs.get("repeat_of", t.number)}
    return None


def _completed(store: Any, name: str) -> tuple[list[dict[str, Any]], list[float]]:
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=name, storage=store)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t.params for t in done], [t.value for t in done]


def collect_rows(store: Any, names: Sequence[str], out: Path | None = None) -> list[dict[str, Any]]:
    """One row per trial of the named studies (state, value, params, recorded numbers); writes results.csv.

    A trial failed because its worker died names the trial that took its place (``retried_as``); that one
    names it back (``recovered_from``) when it recorded the dead trial's finished training."""
    import optuna

    rows = []
    existing = set(optuna.get_all_study_names(store))
    for name in names:
        if name not in existing:
            continue
        trials = optuna.load_study(study_name=name, storage=store).get_trials(deepcopy=False)
        retried_as = {t.system_attrs["retry_history"][-1]: t.number for t in trials
                      if t.system_attrs.get("retry_history")}
        for t in trials:
            retry = {"retried_as": retried_as[t.number]} if t.number in retried_as else {}
            rows.append({"study": name, "trial": t.number, "state": t.state.name, "value": t.value,
                         **t.params, **t.user_attrs, **retry})
    if out is not None:
        write_csv(out / "results.csv", rows)
    return rows


def best_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The complete trial's row with the highest ``value``, or None if no trial completed."""
    complete = [r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None]
    return max(complete, key=lambda r: float(r["value"])) if complete else None
