"""`descent train`: train one model and write metrics.json, history.csv, curves.png and a checkpoint.

With ``--nproc N`` (or started by ``torchrun``) the run is data parallel: torch's elastic launcher starts N
processes running ``python -m descent train`` with the resolved configuration (``--config-json``), each a rank
of train/distributed.py; rank 0 alone prints and writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..config import TrainConfig
from ..errors import DescentError, one_line
from ..schedules import SPEC_HELP
from ..train import overfit_check, run_training
from ..train.checkpoint import load
from ..train.distributed import QUIET_RANKS, Parallel, RankFailed, check_config, check_devices, launch, launched
from ..train.resolve import resolve, resolve_device
from ._common import positive_int
from ._config import add_optimizer_arguments, add_training_arguments, config_from_args

# exit status: 0 trained, 1 a rank of a --nproc run failed, 2 bad input (one line on stderr), 3 the run diverged,
# 130 interrupted
EXIT_DIVERGED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model; writes metrics.json, history.csv, curves.png",
                       description="Train one model on one dataset with one optimizer. Exit status: 0 trained, "
                                   "1 a process of a --nproc run failed (resume it), 2 bad input, 3 the run "
                                   "diverged (its last good checkpoint is kept), 130 interrupted.",
                       epilog="learning-rate schedules (--schedule SPEC):\n" + SPEC_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, as it was configured; only --epochs "
                        "may extend it")
    p.add_argument("--overfit-check", action="store_true",
                   help="first check that a tiny subset can be overfit to ~100%% (the lecture's sanity check)")
    p.add_argument("--nproc", type=positive_int, default=1, metavar="N",
                   help="data parallel: N processes on this host (torch's elastic launcher; gloo on CPU, NCCL "
                        "on CUDA); --batch-size stays the global batch. Several hosts: torchrun -m descent train")
    p.add_argument("--config-json", help=argparse.SUPPRESS)  # the resolved configuration, for launched ranks
    add_optimizer_arguments(p, TrainConfig())
    add_training_arguments(p, TrainConfig())
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if launched():  # a rank started by torchrun or by --nproc
        return _rank(args, cfg)
    if args.overfit_check:
        print(f"overfit check: {overfit_check(cfg)['message']}")
    if args.nproc > 1:
        return _launch(args, cfg)
    return _report(run_training(cfg, args.out, resume=args.resume), args.out)


def _config(args: argparse.Namespace) -> TrainConfig:
    if getattr(args, "config_json", None):
        return TrainConfig.from_dict(json.loads(args.config_json))
    if args.resume:
        saved = TrainConfig.from_dict(load(Path(args.out) / "checkpoint.pt")["config"])
        return config_from_args(args, saved)
    return config_from_args(args, TrainConfig())


def _launch(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """N ranks through torch's elastic launcher; a failed rank ends the job with one line naming it."""
    job = resolve(cfg)  # a bad value is refused here, before any process starts
    check_config(job.entry.closure, cfg.optimizer.name, {"--sharpness-every": cfg.run.sharpness_every})
    check_devices(job.device, args.nproc)
    argv = ["train", "--out", str(args.out), "--config-json", json.dumps(cfg.to_dict())]
    try:
        launch(args.nproc, argv + (["--resume"] if args.resume else []))
    except RankFailed as e:
        if e.rank == 0 and e.exit_status in (2, EXIT_DIVERGED):
            return e.exit_status  # rank 0 printed its own line
        print(f"descent train: error: {e}; continue from the last checkpoint with: descent train --out "
              f"{args.out} --resume --nproc {args.nproc}", file=sys.stderr)
        return e.exit_status
    return 0


def _rank(args: argparse.Namespace, cfg: TrainConfig) -> int:
    """One rank of a data-parallel run: join the process group, train, and (rank 0) report."""
    parallel = Parallel.start(resolve_device(cfg.run.device))
    try:
        metrics = run_training(cfg, args.out, resume=args.resume, parallel=parallel)
    except (DescentError, ValueError, OSError):
        if parallel.is_main:
            raise  # one line on stderr, exit 2
        return 2
    except RuntimeError as e:  # a collective failed: a peer died or stopped answering
        parallel.record(e)
        if not os.environ.get(QUIET_RANKS):  # under --nproc the launcher prints the one line
            print(f"descent train: error: rank {parallel.rank}: {one_line(e)}", file=sys.stderr)
        return 1
    finally:
        parallel.close()
    return _report(metrics, args.out) if parallel.is_main else 0


def _report(metrics: dict, out: str) -> int:
    line = (f"test accuracy {metrics['test_accuracy']:.4f}  val accuracy {metrics['val_accuracy']:.4f}  "
            f"epochs {metrics['epochs_run']}  train {metrics['train_seconds']:.1f}s  -> {out}")
    print(line)
    if metrics.get("diverged"):
        print(f"descent train: diverged: {metrics['stop_reason']}; the last good checkpoint and the "
              "best-validation weights are kept", file=sys.stderr)
        return EXIT_DIVERGED
    if metrics.get("stop_reason"):
        print(f"stopped early: {metrics['stop_reason']}")
    return 0
