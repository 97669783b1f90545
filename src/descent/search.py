"""Random and grid search over hyperparameters through Optuna, on a study stored on disk.

The lecture's advice (Bergstra & Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 2012):
sample hyperparameters at random, learning rate and regularization strength on a log scale, and search
coarse-to-fine: a few short trials over wide ranges, then more trials over ranges narrowed around the best.
With the same budget, a grid of ``K**d`` points tries only ``K`` values of the one parameter that matters;
random search tries a new value in every trial.

A search space is written ``name=low:high[:log]`` (a float or, for integer fields, an int range) or
``name=a|b|c`` (a choice), joined by commas: ``lr=1e-4:1e-1:log,momentum=0.8:0.99``.

The study lives in an SQLite file (Optuna's RDB storage): every trial is committed in one transaction, so a
run killed at any moment leaves a consistent study, and a re-run adds its trials to it. Trials left
``RUNNING`` by a killed process are marked failed by Optuna's heartbeat once their grace period is over.
Several workers may share one study through ``storage`` (an RDB URL); their random draws are then seeded
from the operating system, so they never repeat each other's points.

Relation to other tools: ``optuna.samplers.RandomSampler`` / ``GridSampler`` do the sampling; Keras Tuner's
``RandomSearch`` and scikit-learn's ``RandomizedSearchCV`` / ``GridSearchCV`` are the same two strategies.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ._io import ensure_dir, write_csv
from .errors import DescentError

STUDY_NAME = "search"
METHODS = ("random", "grid")


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: a range ``[low, high]`` (log scale if ``log``, ints if ``integer``) or choices."""

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def grid(self, points: int) -> list[Any]:
        """``points`` values evenly spaced from low to high (in log space if ``log``); all choices."""
        if self.choices is not None:
            return list(self.choices)
        if points == 1:
            return [self._cast(self._from_unit(0.5))]
        values = [self._cast(self._from_unit(i / (points - 1))) for i in range(points)]
        return list(dict.fromkeys(values))  # integer ranges may repeat a value

    def suggest(self, trial: Any) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def _from_unit(self, u: float) -> float:
        if u <= 0.0 or u >= 1.0:  # the ends exactly, not exp(log(high)) one ulp past it
            return self.low if u <= 0.0 else self.high
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def _to_unit(self, x: float) -> float:
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def extremes(self) -> list[Any]:
        """Every choice, or both ends of the range: what a trial may be given, at its most extreme."""
        return list(self.choices) if self.choices is not None else [self._cast(self.low), self._cast(self.high)]

    def _cast(self, x: float) -> Any:
        return int(round(x)) if self.integer else float(x)


def parse_space(spec: str, known: Mapping[str, type] | None = None) -> dict[str, Dimension]:
    """Parse ``"lr=1e-4:1e-1:log,momentum=0.8:0.99,optimizer=sgd|adam"``.

    ``known`` maps the allowed names to their type (``int`` makes an integer range); None allows any name.
    Raises DescentError for an empty space, an unknown name or a malformed range.
    """
    space: dict[str, Dimension] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, rest = item.partition("=")
        name = name.strip()
        if not sep or not name or not rest:
            raise DescentError(f"search space item {item!r} is not name=low:high[:log] or name=a|b")
        if known is not None and name not in known:
            raise DescentError(f"unknown search parameter {name!r}; choose from {', '.join(sorted(known))}")
        if name in space:
            raise DescentError(f"search parameter {name!r} is given twice")
        kind = known.get(name, float) if known is not None else float
        space[name] = _parse_dimension(name, rest.strip(), kind)
    if not space:
        raise DescentError(f"empty search space {spec!r}: give at least one name=low:high")
    return space


def _parse_dimension(name: str, text: str, kind: type) -> Dimension:
    if "|" in text:
        choices = tuple(_parse_choice(c.strip(), kind) for c in text.split("|") if c.strip())
        if not choices:
            raise DescentError(f"search parameter {name!r}: no choices in {text!r}")
        return Dimension(name, choices=choices)
    parts = text.split(":")
    flags = {p.strip() for p in parts[2:]}
    if len(parts) < 2 or not flags <= {"log", "int"}:
        raise DescentError(f"search parameter {name!r}: expected low:high[:log], got {text!r}")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise DescentError(f"search parameter {name!r}: {text!r} is not a numeric range") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise DescentError(f"search parameter {name!r}: need finite low < high, got {text!r}")
    log = "log" in flags
    if log and low <= 0:
        raise DescentError(f"search parameter {name!r}: a log range needs low > 0, got {text!r}")
    return Dimension(name, low, high, log=log, integer=kind is int or "int" in flags)


def _parse_choice(text: str, kind: type) -> Any:
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise DescentError(f"choice {text!r} is not a number") from None
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    return text


def grid_points(space: Mapping[str, Dimension], trials: int) -> int:
    """Points per range so that the grid has about ``trials`` points: ``round(trials ** (1/d))``, >= 2."""
    ranges = [d for d in space.values() if d.choices is None]
    n_choices = math.prod(len(d.choices) for d in space.values() if d.choices is not None)
    if not ranges:
        return 1
    return max(2, round((trials / n_choices) ** (1.0 / len(ranges))))


def narrow(space: Mapping[str, Dimension], params: Sequence[Mapping[str, Any]], values: Sequence[float],
           top: float = 0.25, pad: float = 0.5) -> dict[str, Dimension]:
    """The coarse-to-fine step: shrink each range around the best trials.

    Keep the best ``max(2, ceil(top * n))`` trials; a range becomes ``[min, max]`` of their values (in the
    unit coordinates of the old range, log scale if ``log``) widened by ``pad`` times its width on each side
    (at least 5% of the old range), clipped to the old range. A choice keeps the choices the best trials made.
    """
    if not params:
        return dict(space)
    k = max(2, math.ceil(top * len(params)))
    best = [p for _, p in sorted(zip(values, params, strict=False), key=lambda vp: -vp[0])[:k]]
    narrowed = {}
    for name, dim in space.items():
        seen = [p[name] for p in best if name in p]
        if not seen:
            narrowed[name] = dim
        elif dim.choices is not None:
            narrowed[name] = replace(dim, choices=tuple(c for c in dim.choices if c in seen))
        else:
            u = [dim._to_unit(float(x)) for x in seen]
            width = max(max(u) - min(u), 0.1)
            lo, hi = max(0.0, min(u) - pad * width), min(1.0, max(u) + pad * width)
            low, high = dim._from_unit(lo), dim._from_unit(hi)
            if dim.integer:
                low, high = math.floor(low), math.ceil(high)
            narrowed[name] = replace(dim, low=low, high=high)
    return narrowed


# ---------------------------------------------------------------------------------------------- storage


def default_storage(out_dir: str | os.PathLike) -> str:
    return f"sqlite:///{Path(out_dir).resolve() / 'study.db'}"


def open_storage(url: str) -> Any:
    """Optuna RDB storage with a heartbeat (so trials of killed workers end up FAIL); one-line errors."""
    import optuna

    for attempt in range(6):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=10, grace_period=30)
        except ModuleNotFoundError as e:
            raise DescentError(f"storage {url!r} needs the database driver {e.name!r}") from None
        except Exception as e:  # sqlalchemy raises its own OperationalError / ArgumentError / ...
            # two workers creating the same new database race on its schema: the loser retries
            racing = any(s in str(e) for s in ("already exists", "UNIQUE constraint", "database is locked"))
            if not racing or attempt == 5:
                raise DescentError(f"cannot open storage {url!r}: {_first_line(e)}") from None
            time.sleep(0.2 * (attempt + 1))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


# ---------------------------------------------------------------------------------------------- search

Objective = Callable[[dict[str, Any], str], "float | Mapping[str, Any]"]


def run_search(objective: Objective, space: Mapping[str, Dimension], out_dir: str | os.PathLike, trials: int,
               method: str = "random", storage: str | None = None, coarse_to_fine: bool = False,
               seed: int = 0, study_name: str = STUDY_NAME,
               on_trial: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``trials`` more trials of ``objective(params, label)`` (higher is better); return all rows.

    ``objective`` returns the validation accuracy, or a dict holding ``val_accuracy`` and any other numbers
    to record; ``label`` names the trial uniquely (``search-0007``, ``search-fine-0002``).
    With ``coarse_to_fine`` the first ``trials - trials // 2`` trials search ``space`` and the rest search
    :func:`narrow` of it around the best coarse trials (a second study, ``<name>-fine``).
    ``out_dir/results.csv`` is rewritten after every trial. ``seed`` seeds the samplers unless ``storage``
    is given (shared by workers).
    """
    if method not in METHODS:
        raise DescentError(f"unknown search method {method!r}; choose from {', '.join(METHODS)}")
    if trials <= 0:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    out = ensure_dir(out_dir)
    store = open_storage(storage or default_storage(out))
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
            _run_stage(objective, stage_space, store, name, n, method, stage_seed, write_results, on_trial)
    return write_results()


def _run_stage(objective: Objective, space: Mapping[str, Dimension], store: Any, name: str, n: int,
               method: str, seed: int | None, write_results: Callable[[], list],
               on_trial: Callable | None) -> None:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=store, study_name=name, direction="maximize", load_if_exists=True)
    if method == "grid":
        study.sampler = _grid_sampler(study, space, n, seed)
    else:
        study.sampler = optuna.samplers.RandomSampler(seed=_offset(seed, len(study.trials)))  # re-run: new

    def optuna_objective(trial: Any) -> float:
        params = {d.name: d.suggest(trial) for d in space.values()}
        record = _earlier_result(study, params)
        if record is None:
            result = objective(params, f"{name}-{trial.number:04d}")
            record = dict(result) if isinstance(result, Mapping) else {"val_accuracy": float(result)}
        for key, value in record.items():
            trial.set_user_attr(key, value)
        return float(record["val_accuracy"])

    def after_trial(study: Any, trial: Any) -> None:
        rows = write_results()
        if on_trial is not None and trial.state in (TrialState.COMPLETE, TrialState.FAIL):
            on_trial(next((r for r in rows if r["trial"] == trial.number and r["study"] == name), {}))

    study.optimize(optuna_objective, n_trials=n, callbacks=[after_trial])


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
    """One row per trial of the named studies (state, value, params, recorded numbers); writes results.csv."""
    import optuna

    rows = []
    existing = set(optuna.get_all_study_names(store))
    for name in names:
        if name not in existing:
            continue
        for t in optuna.load_study(study_name=name, storage=store).get_trials(deepcopy=False):
            rows.append({"study": name, "trial": t.number, "state": t.state.name, "value": t.value,
                         **t.params, **t.user_attrs})
    if out is not None:
        write_csv(out / "results.csv", rows)
    return rows


def best_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    complete = [r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None]
    return max(complete, key=lambda r: float(r["value"])) if complete else None
