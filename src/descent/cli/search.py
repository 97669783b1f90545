"""`descent search`: random or grid search over training hyperparameters, stored in an Optuna study on disk.

Each trial is a short ``descent train`` run in ``--out/trials/<label>/``; the study (``--out/study.db`` or
``--storage URL``) survives interruption, and a re-run adds ``--trials`` more trials to it. ``--workers N``
runs N processes on this host sharing the study through Optuna's journal file (``--out/study.journal``);
``--storage postgresql://USER@HOST:PORT/DB`` shares it with workers on other hosts. A trial whose
worker died after its training is recorded from its folder's metrics.json; one that died mid-training is
re-run. Outputs:
``results.csv`` (one row per trial), ``scatter.png`` (validation accuracy against each hyperparameter, the
lecture's picture) and ``report.html``.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._io import ensure_dir
from ..config import FLAT, HYPER_FLAGS, SECTIONS, TrainConfig
from ..report import plot_scatter, write_search_report
from ..search import HEARTBEAT, METHODS, best_row, default_storage, parse_space, run_search, study_rows
from ..train import run_training
from ..train.resolve import resolve
from ._common import positive_int
from ._config import add_optimizer_arguments, add_training_arguments, config_from_args

DEFAULT_SPACE = "lr=1e-4:1e-1:log,weight_decay=1e-6:1e-2:log"
SEARCH_EPOCHS = 5
BASE = TrainConfig().replace(epochs=SEARCH_EPOCHS, threads=1)
# configuration fields that describe the job rather than the model or its training: not searchable
_NOT_SEARCHABLE = {"data", "data_dir", "device", "progress", "checkpoint_every", "monitor", "tensorboard",
                   "train_subset", "val_fraction", "standardize", "world_size", "sync_batchnorm"}


def searchable() -> dict[str, type]:
    """The configuration fields (flat names) a search space may name, with their type (int, float, bool or
    str); ``momentum`` and ``weight_decay`` are floats."""
    known: dict[str, type] = dict.fromkeys(HYPER_FLAGS, float)
    for flat, (section, name) in FLAT.items():
        cls = SECTIONS[section]
        hint = typing.get_type_hints(cls)[name]
        args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(
            hint, types.UnionType) or typing.get_origin(hint) is typing.Union else [hint]
        if flat not in _NOT_SEARCHABLE and len(args) == 1 and args[0] in (int, float, bool, str):
            known[flat] = args[0]
    return known


def register(sub) -> None:
    p = sub.add_parser("search", help="random or grid search of hyperparameters (Optuna, resumable)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (holds the study unless --storage is given)")
    p.add_argument("--trials", type=positive_int, required=True, help="trials to add to the study")
    p.add_argument("--method", choices=METHODS, default="random", help="random (default) or grid search")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help="name=low:high[:log] or name=a|b, comma-separated (default: %(default)s)")
    p.add_argument("--storage", default=None,
                   help="the study's storage, shared by workers: an Optuna RDB URL (sqlite:///FILE, "
                        "postgresql://USER@HOST:PORT/DB) or journal:FILE (default: sqlite:///OUT/study.db; "
                        "journal:OUT/study.journal with --workers)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="N worker processes on this host sharing the study; --trials is their total")
    p.add_argument("--coarse-to-fine", action="store_true",
                   help="spend half the trials on ranges narrowed around the best of the first half")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the sampler (default 0)")
    p.add_argument("--heartbeat", type=positive_int, default=HEARTBEAT, metavar="SECONDS",
                   help="a running trial beats every SECONDS; one silent for 3 beats is taken as dead, and "
                        "its result recovered or the trial re-run (default %(default)s)")
    add_optimizer_arguments(p, BASE)
    add_training_arguments(p, BASE)
    p.set_defaults(func=run)


def run(args) -> int:
    space, base = _checked(args)
    out = ensure_dir(args.out)
    storage = args.storage or (default_storage(out, args.workers) if args.workers > 1 else None)
    workers = f" by {args.workers} workers" if args.workers > 1 else ""
    print(f"{args.method} search of {', '.join(space)} on {base.data.name}: {args.trials} trials of "
          f"{base.run.epochs} epochs{workers}, study in {storage or out / 'study.db'}", flush=True)
    dead = []
    if args.workers > 1:
        dead = _run_workers(args, storage)
        rows = study_rows(storage, out, coarse_to_fine=args.coarse_to_fine, heartbeat=args.heartbeat)
    else:
        rows = _search(args, space, base, out, storage, args.trials)
    plot_scatter(rows, space, out / "scatter.png")
    best = best_row(rows)
    write_search_report(out, rows, best, title=f"descent search: {args.method} on {base.data.name}")
    if best is not None:
        shown = ", ".join(f"{d}={best[d]:.4g}" if _is_number(best[d]) else f"{d}={best[d]}" for d in space)
        print(f"best of {len(rows)} trials: val acc {best['value']:.3f} with {shown}")
    print(f"wrote {out / 'results.csv'}, {out / 'scatter.png'} and {out / 'report.html'}")
    if dead:
        print(f"descent search: error: worker(s) {', '.join(dead)} died; their finished trials are kept and a "
              "trial they were running was retried by the others (run again to add any trials they owed)",
              file=sys.stderr)
        return 1
    return 0


def _checked(args) -> tuple[dict[str, Any], TrainConfig]:
    """The search space and the base configuration, every value checked before any trial runs."""
    space = parse_space(args.space, known=searchable())
    if args.storage is not None and not args.storage.strip():
        raise ValueError("invalid --storage='': must be an Optuna storage URL such as sqlite:///study.db")
    base = config_from_args(args, BASE).replace(checkpoint_every=0, progress=False)
    resolve(base)
    for dim in space.values():  # every choice and both ends of every range, before any trial runs
        for value in dim.extremes():
            resolve(base.replace(**{dim.name: value}))
    return space, base


def _run_workers(args, storage: str) -> list[str]:
    """``--workers N`` processes (spawned), each running its share of the trials on the shared study; returns
    the workers that died (by number and exit status)."""
    shares = [args.trials // args.workers + (k < args.trials % args.workers) for k in range(args.workers)]
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_worker, args=(args, storage, n), name=f"worker-{k}")
             for k, n in enumerate(shares) if n]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return [f"{proc.name} (pid {proc.pid}, exit status {proc.exitcode})" for proc in procs if proc.exitcode]


def _worker(args, storage: str, trials: int) -> None:
    space, base = _checked(args)
    _search(args, space, base, Path(args.out), storage, trials)


def _search(args, space: dict[str, Any], base: TrainConfig, out: Path, storage: str | None,
            trials: int) -> list[dict[str, Any]]:
    """One worker's trials of the study (its rows at the end)."""

    def objective(params: dict[str, Any], label: str) -> dict[str, Any]:
        return _recorded(run_training(base.replace(**params), out / "trials" / label))

    def recover(dead: Mapping[str, Any]) -> dict[str, Any] | None:
        """A dead worker's trial whose training finished left a complete metrics.json in its folder."""
        try:
            folder = Path(str(dead.get("out", out))) / "trials" / str(dead["label"])
            metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        finished = isinstance(metrics, dict) and _is_number(metrics.get("val_accuracy"))
        return _recorded(metrics) if finished else None

    def waiting(running: int) -> None:
        print(f"waiting for {running} running trial(s) of other workers (a dead worker's trial is taken as "
              f"dead after {3 * args.heartbeat} s without a heartbeat)", flush=True)

    def progress(row: dict[str, Any]) -> None:
        values = "  ".join(f"{d}={row.get(d, float('nan')):.3g}" for d in space if _is_number(row.get(d)))
        value = row.get("value")
        shown = f"{value:.3f}" if isinstance(value, float) else row.get("state", "?")
        print(f"{row.get('study', '')} trial {row.get('trial', '?')}: {values}  val acc {shown}", flush=True)

    return run_search(objective, space, out, trials, method=args.method, storage=storage,
                      coarse_to_fine=args.coarse_to_fine, seed=args.search_seed, on_trial=progress,
                      recover=recover, heartbeat=args.heartbeat, on_wait=waiting)


def _recorded(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of a training run that a trial records."""
    return {"val_accuracy": float(metrics["val_accuracy"]),
            "test_accuracy": _number(metrics.get("test_accuracy")),
            "train_seconds": _number(metrics.get("train_seconds"))}


def _number(x: Any) -> float:
    return float(x) if _is_number(x) else float("nan")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
