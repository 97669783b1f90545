"""`descent train`: train one model and write metrics.json, history.csv, curves.png and a checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import TrainConfig
from ..schedules import SPEC_HELP
from ..train import overfit_check, run_training
from ..train.checkpoint import load
from ._config import add_optimizer_arguments, add_training_arguments, config_from_args

# exit status: 0 trained, 2 bad input (one line on stderr), 3 the run diverged, 130 interrupted
EXIT_DIVERGED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model; writes metrics.json, history.csv, curves.png",
                       description="Train one model on one dataset with one optimizer. Exit status: 0 trained, "
                                   "2 bad input, 3 the run diverged (its last good checkpoint is kept), "
                                   "130 interrupted.",
                       epilog="learning-rate schedules (--schedule SPEC):\n" + SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, as it was configured; only --epochs "
                        "may extend it")
    p.add_argument("--overfit-check", action="store_true",
                   help="first check that a tiny subset can be overfit to ~100%% (the lecture's sanity check)")
    add_optimizer_arguments(p, TrainConfig())
    add_training_arguments(p, TrainConfig())
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        saved = TrainConfig.from_dict(load(Path(args.out) / "checkpoint.pt")["config"])
        cfg = config_from_args(args, saved)
    else:
        cfg = config_from_args(args, TrainConfig())
    if args.overfit_check:
        print(f"overfit check: {overfit_check(cfg)['message']}")
    metrics = run_training(cfg, args.out, resume=args.resume)
    line = (f"test accuracy {metrics['test_accuracy']:.4f}  val accuracy {metrics['val_accuracy']:.4f}  "
            f"epochs {metrics['epochs_run']}  train {metrics['train_seconds']:.1f}s  -> {args.out}")
    print(line)
    if metrics.get("diverged"):
        print(f"descent train: diverged: {metrics['stop_reason']}; the last good checkpoint and the "
              "best-validation weights are kept", file=sys.stderr)
        return EXIT_DIVERGED
    if metrics.get("stop_reason"):
        print(f"stopped early: {metrics['stop_reason']}")
    return 0
