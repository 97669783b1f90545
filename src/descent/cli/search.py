"""`descent search`: random or grid search over training hyperparameters, stored in an Optuna study on disk.

Each trial is a short ``descent train`` run in ``--out/trials/<label>/``; the study (``--out/study.db`` or
``--storage URL``) survives interruption, and a re-run adds ``--trials`` more trials to it. Outputs:
``results.csv`` (one row per trial), ``scatter.png`` (validation accuracy against each hyperparameter, the
lecture's picture) and ``report.html``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from .._io import ensure_dir, save_figure
from ..search import METHODS, best_row, parse_space, run_search
from ..train.config import TrainConfig
from ._common import positive_int

DEFAULT_SPACE = "lr=1e-4:1e-1:log,weight_decay=1e-6:1e-2:log"
SEARCH_EPOCHS = 5
# TrainConfig fields that describe the job rather than the model or its training: not searchable
_NOT_SEARCHABLE = {"data", "data_dir", "device", "progress", "checkpoint_every", "monitor", "overfit_check",
                   "tensorboard", "hyper", "train_subset", "val_fraction", "standardize"}


def searchable() -> dict[str, type]:
    """The TrainConfig fields a search space may name, with their type (int, float, bool or str)."""
    hints = typing.get_type_hints(TrainConfig)
    known = {}
    for f in fields(TrainConfig):
        if f.name in _NOT_SEARCHABLE:
            continue
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(
            hint, types.UnionType) or typing.get_origin(hint) is typing.Union else [hint]
        if len(args) == 1 and args[0] in (int, float, bool, str):
            known[f.name] = args[0]
    return known


def register(sub) -> None:
    from .train import add_optimizer_arguments, add_training_arguments

    p = sub.add_parser("search", help="random or grid search of hyperparameters (Optuna, resumable)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (holds the study unless --storage is given)")
    p.add_argument("--trials", type=positive_int, required=True, help="trials to add to the study")
    p.add_argument("--method", choices=METHODS, default="random", help="random (default) or grid search")
    p.add_argument("--space", default=DEFAULT_SPACE,
                   help="name=low:high[:log] or name=a|b, comma-separated (default: %(default)s)")
    p.add_argument("--storage", default=None,
                   help="Optuna RDB storage URL shared by several workers (default: sqlite:///OUT/study.db)")
    p.add_argument("--coarse-to-fine", action="store_true",
                   help="spend half the trials on ranges narrowed around the best of the first half")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the sampler (default 0)")
    add_optimizer_arguments(p)
    add_training_arguments(p, TrainConfig(epochs=SEARCH_EPOCHS, threads=1))
    p.set_defaults(func=run)


def run(args) -> int:
    from ..lab.report import write_search_report
    from ..train import run_training
    from .train import config_from_args

    space = parse_space(args.space, known=searchable())
    out = ensure_dir(args.out)
    base = replace(config_from_args(args), checkpoint_every=0, progress=False)

    def objective(params: dict[str, Any], label: str) -> dict[str, Any]:
        metrics = run_training(replace(base, **params), out / "trials" / label)
        return {"val_accuracy": float(metrics["val_accuracy"]),
                "test_accuracy": float(metrics.get("test_accuracy", float("nan"))),
                "train_seconds": float(metrics.get("train_seconds", float("nan")))}

    def progress(row: dict[str, Any]) -> None:
        values = "  ".join(f"{d}={row.get(d, float('nan')):.3g}" for d in space if _is_number(row.get(d)))
        value = row.get("value")
        shown = f"{value:.3f}" if isinstance(value, float) else row.get("state", "?")
        print(f"{row.get('study', '')} trial {row.get('trial', '?')}: {values}  val acc {shown}", flush=True)

    print(f"{args.method} search of {', '.join(space)} on {base.data}: {args.trials} trials of "
          f"{base.epochs} epochs, study in {args.storage or out / 'study.db'}", flush=True)
    rows = run_search(objective, space, out, args.trials, method=args.method, storage=args.storage,
                      coarse_to_fine=args.coarse_to_fine, seed=args.search_seed, on_trial=progress)
    plot_scatter(rows, space, out / "scatter.png")
    best = best_row(rows)
    write_search_report(out, rows, best, title=f"descent search: {args.method} on {base.data}")
    if best is not None:
        shown = ", ".join(f"{d}={best[d]:.4g}" if _is_number(best[d]) else f"{d}={best[d]}" for d in space)
        print(f"best of {len(rows)} trials: val acc {best['value']:.3f} with {shown}")
    print(f"wrote {out / 'results.csv'}, {out / 'scatter.png'} and {out / 'report.html'}")
    return 0


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def plot_scatter(rows: list[dict[str, Any]], space: dict[str, Any], path: Path) -> None:
    """Validation accuracy against each numeric hyperparameter (log x for log ranges), coarse vs fine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
