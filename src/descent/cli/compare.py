"""`descent compare`: which optimizer? Each tuned with the same budget, retrained over seeds, with intervals.

Per workload (``--data a,b,c``) and optimizer: ``--budget N`` learning rates (the registry's, then Sobol
points log-uniform over [lr/10, 10 lr], from Optuna's QMCSampler; ``--tune`` adds hyperparameters), each
trained on the base seed and judged on validation accuracy; the best retrained on ``--seeds S`` new seeds;
test accuracy as mean, standard deviation and 95% t interval; with ``--target ACC`` the steps and seconds to
that validation accuracy (median over seeds) and, over several workloads, the performance profile.
``--model`` / ``--data`` also take the user's own ``FILE.py:FUNCTION``. The runs are trials of Optuna studies
(``OUT/study.db`` or ``--storage URL``): workers sharing the storage share the runs, and a re-run resumes.
Outputs in ``--out``: trials.csv, results.csv, curves.csv, profile.csv (several workloads) and report.html.
``make demo`` runs ``descent compare --data mnist1d --out runs/demo`` with its budget and seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path
from typing import Any

from ..comparison import BASE, compare
from ..comparison.space import TUNABLE
from ..optim.registry import LECTURE_ORDER
from ..search import HEARTBEAT
from ._common import positive_int
from ._config import add_training_arguments, config_from_args


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare optimizers: a tuning budget each, seeds, 95%% intervals",
                       description=__doc__.split("\n\n")[0], conflict_handler="resolve")
    p.add_argument("--out", required=True, help="output folder (holds the study unless --storage is given)")
    p.add_argument("--optimizers", default=",".join(LECTURE_ORDER),
                   help="comma-separated registry names (default: %(default)s)")
    p.add_argument("--budget", type=positive_int, default=1,
                   help="settings tried per optimizer, judged on validation accuracy (default 1: the registry's)")
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="seeds the best setting is trained on for the test accuracy and its interval (default 1)")
    p.add_argument("--tune", default="lr", help=f"hyperparameters tuned, from {', '.join(TUNABLE)} (default lr)")
    p.add_argument("--target", default=None, metavar="ACC[,ACC...]",
                   help="validation accuracy to reach: steps and seconds to it, performance profile")
    p.add_argument("--storage", default=None, help="Optuna RDB storage URL shared by several workers "
                                                   "(default: sqlite:///OUT/study.db)")
    p.add_argument("--heartbeat", type=positive_int, default=HEARTBEAT, metavar="SECONDS",
                   help="a run silent for 3 beats is taken as dead and re-run (default %(default)s)")
    add_training_arguments(p, BASE)
    p.add_argument("--data", dest="workloads", default="mnist1d",
                   help="comma-separated datasets (mnist1d, digits, spiral, ...) or FILE.py:FUNCTION returning "
                        "(x_train, y_train, x_test, y_test) (default: %(default)s)")
    p.add_argument("--model", dest="model_spec", default=None,
                   help="auto, mlp, cnn, or FILE.py:FUNCTION(input_shape, num_classes) -> nn.Module")
    p.set_defaults(func=run)


def _targets(text: str | None, count: int) -> float | list[float] | None:
    if text is None:
        return None
    values = []
    for item in text.split(","):
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"invalid --target={text!r}: must be accuracies in [0, 1], comma-separated") from None
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.optimizers.split(",") if n.strip()]
    if not names:
        raise ValueError(f"--optimizers: no optimizer named in {args.optimizers!r}")
    if args.storage is not None and not args.storage.strip():
        raise ValueError("invalid --storage='': must be an Optuna storage URL such as sqlite:///study.db")
    datas = [d.strip() for d in args.workloads.split(",") if d.strip()]
    if not datas:
        raise ValueError(f"invalid --data={args.workloads!r}: must name a dataset")
    base = config_from_args(args, BASE)
    model = args.model_spec
    created = not Path(args.out).exists()
    print(f"comparing {len(names)} optimizers on {', '.join(datas)}: budget {args.budget}, {args.seeds} seed(s), "
          f"{base.run.epochs} epochs a run, output in {args.out}", flush=True)
    try:
        rows = compare(model=model, data=datas, optimizers=names, budget=args.budget, seeds=args.seeds,
                       target=_targets(args.target, len(datas)), tune=args.tune, out=args.out,
                       storage=args.storage, config=base, on_run=_progress, on_wait=_waiting,
                       heartbeat=args.heartbeat)
    except BaseException:
        out = Path(args.out)
        # a failed start leaves nothing behind; a study begun there stays (the same command resumes it), and
        # so does a folder that other workers write into
        if created and out.is_dir() and not any(out.iterdir()):
            with contextlib.suppress(OSError):  # a peer wrote into it meanwhile
                out.rmdir()
        raise
    print(_table(rows))
    print(f"wrote trials.csv, results.csv, curves.csv and report.html in {args.out}")
    return 0


def _progress(run: dict[str, Any]) -> None:
    setting = "  ".join(f"{k}={v:.3g}" for k, v in run["setting"].items() if isinstance(v, float))
    print(f"[{run['workload']} {run['optimizer']} {run['phase']} {run['index'] + 1}/{run['of']}] seed {run['seed']} "
          f"{setting}: val {run['val_accuracy']:.3f} test {run['test_accuracy']:.3f} "
          f"({math.fsum(run['epoch_seconds']):.1f} s)", flush=True)


def _waiting(running: int) -> None:
    print(f"waiting for {running} run(s) of other workers", flush=True)


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'workload':<10} {'optimizer':<10} {'best lr':>8} {'test mean':>9} {'95% interval':>17} "
             f"{'to target':>10}  vs best"]
    for r in rows:
        interval = (f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if math.isfinite(r["ci_low"]) else "(one seed)")
        steps = r["steps_to_target"]
        steps = f"{steps:.0f}" if isinstance(steps, float) else steps
        lines.append(f"{r['workload']:<10} {r['optimizer']:<10} {r['best_lr']:>8.3g} {r['test_mean']:>9.3f} "
                     f"{interval:>17} {steps or '-':>10}  {r['vs_best']}")
    return "\n".join(lines)
