"""`descent compare`: train one model on one dataset with each optimizer and overlay the curves.

Every run starts from the same seed, so from the same initial weights and the same batches; only the
optimizer (at its registry learning rate) differs. Outputs in ``--out``: one folder per optimizer (a full
``descent train`` run with its own report.html), ``results.csv``, ``loss.png``, ``accuracy.png`` and
``report.html``. ``make demo`` runs ``descent compare --data mnist1d --out runs/demo``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from .._io import ensure_dir, write_csv
from ..config import TrainConfig
from ..optim.registry import LECTURE_ORDER, get
from ..report import plot_comparison, write_comparison_report
from ..train import Callback, run_training
from ..train.resolve import resolve
from ._config import add_training_arguments, config_from_args

# The demo's defaults: about a minute and a half for the seven optimizers, one torch thread (a busy
# two-core machine runs a small CNN several times slower with two threads than with one).
DEMO_EPOCHS = 8


BASE = TrainConfig().replace(epochs=DEMO_EPOCHS, threads=1)


def register(sub) -> None:
    p = sub.add_parser("compare", help="train the same model with each optimizer and overlay the curves",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--optimizers", default=",".join(LECTURE_ORDER),
                   help="comma-separated registry names, each at its registry lr (default: %(default)s)")
    add_training_arguments(p, BASE)
    p.set_defaults(func=run)


class _Curves(Callback):
    """Keep a run's per-step losses and per-epoch history for the overlaid plots."""

    name = "curves"

    def __init__(self) -> None:
        self.iter_losses: list[float] = []
        self.history: list[dict[str, Any]] = []

    def on_train_end(self, trainer: Any) -> None:
        self.iter_losses, self.history = list(trainer.iter_losses), list(trainer.history)


def run(args) -> int:
    names = [get(n.strip()).name for n in args.optimizers.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--optimizers: no optimizer named in {args.optimizers!r}")
    base = config_from_args(args, BASE)
    for name in names:  # every value checked before the output folder is made
        resolve(base.replace(optimizer=name, lr=None))
    created = not Path(args.out).exists()
    out = ensure_dir(args.out)
    try:
        return _compare(names, base, out)
    except BaseException:
        if created and not any(p.is_dir() for p in out.iterdir()):  # a failed start leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise


def _compare(names: list[str], base: TrainConfig, out: Path) -> int:
    print(f"comparing {len(names)} optimizers on {base.data.name}: {base.run.epochs} epochs each, "
          f"seed {base.run.seed}, "
          f"output in {out}", flush=True)
    rows, curves = [], {}
    for i, name in enumerate(names, 1):
        cfg = base.replace(optimizer=name, lr=None)
        recorder = _Curves()
        start = time.perf_counter()
        metrics = run_training(cfg, out / name, callbacks=[recorder])
        seconds = time.perf_counter() - start
        rows.append(_row(name, metrics, seconds))
        curves[name] = (recorder.iter_losses, recorder.history)
        r = rows[-1]
        print(f"[{i}/{len(names)}] {name:<9} lr={r['lr']:<7g} best val acc {r['best_val_accuracy']:.3f}  "
              f"test acc {r['test_accuracy']:.3f}  ({seconds:.1f} s)", flush=True)
    write_csv(out / "results.csv", rows)
    plot_comparison(curves, out)
    write_comparison_report(out, rows, title=f"descent compare: {base.data.name}")
    print(_table(rows))
    print(f"wrote results.csv, loss.png, accuracy.png and report.html in {out}")
    return 0


def _row(name: str, metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One line of results.csv; the test accuracy is that of the best-validation weights."""
    return {"optimizer": name, "lr": metrics["config"]["optimizer"]["lr"] or get(name).lr,
            "final_val_accuracy": metrics["final_val_accuracy"], "best_val_accuracy": metrics["val_accuracy"],
            "test_accuracy": metrics["test_accuracy"], "final_train_loss": metrics["final_train_loss"],
            "epochs": metrics["epochs_run"], "seconds": round(seconds, 2),
            "stop_reason": metrics.get("stop_reason") or ""}


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'optimizer':<10} {'lr':>7} {'best val':>8} {'test':>6} {'train loss':>10} {'seconds':>7}"]
    for r in sorted(rows, key=lambda r: -r["best_val_accuracy"]):
        lines.append(f"{r['optimizer']:<10} {r['lr']:>7g} {r['best_val_accuracy']:>8.3f} "
                     f"{r['test_accuracy']:>6.3f} {r['final_train_loss']:>10.4f} {r['seconds']:>7.1f}")
    return "\n".join(lines)

