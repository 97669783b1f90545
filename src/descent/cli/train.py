"""`descent train`: train one model and write metrics.json, history.csv, curves.png and a checkpoint."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..train.config import TrainConfig
from ._common import nonneg_float, nonneg_int, positive_float, positive_int, probability


def batch_size(text: str) -> int | None:
    """A positive integer, or 'full' for full-batch gradient descent."""
    if text.lower() == "full":
        return None
    return positive_int(text)


def hyper_pairs(text: str) -> dict[str, Any]:
    """KEY=VALUE[,KEY=VALUE...] with JSON values: betas=[0.9,0.99],eps=1e-7,amsgrad=true."""
    out: dict[str, Any] = {}
    for item in filter(None, _split_top_level(text)):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def add_training_arguments(p: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    """The flags shared by train, compare and search (everything but the optimizer choice)."""
    d = defaults or TrainConfig()
    g = p.add_argument_group("data")
    g.add_argument("--data", default=d.data,
                   help="mnist1d (default), digits, spiral, or mnist / fashion-mnist / cifar10 with --data-dir")
    g.add_argument("--data-dir", default=d.data_dir, help="folder holding the files of mnist, fashion-mnist, cifar10")
    g.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="skip zero-mean / unit-variance preprocessing (training statistics)")
    g.add_argument("--val-fraction", type=nonneg_float, default=d.val_fraction)
    g.add_argument("--train-subset", type=positive_int, default=d.train_subset,
                   help="keep only N training examples (the overfitting experiment)")
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d.model, choices=["auto", "mlp", "cnn"])
    g.add_argument("--width", type=positive_int, default=d.width)
    g.add_argument("--depth", type=nonneg_int, default=d.depth)
    g.add_argument("--activation", default=d.activation, choices=["relu", "tanh", "sigmoid"])
    g.add_argument("--init", default=d.init, choices=["he", "xavier", "normal"])
    g.add_argument("--init-std", type=positive_float, default=d.init_std, help="std of --init normal")
    g.add_argument("--batchnorm", dest="batchnorm", action="store_true", default=d.batchnorm)
    g.add_argument("--no-batchnorm", dest="batchnorm", action="store_false")
    g.add_argument("--dropout", type=probability, default=d.dropout, help="drop probability p (inverted dropout)")
    g.add_argument("--dropconnect", type=probability, default=d.dropconnect,
                   help="drop probability of weights in the classifier's hidden layer")
    g.add_argument("--fractional-pool", action="store_true", help="fractional max pooling in the 2-D CNN")
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=batch_size, default=d.batch_size,
                   help="minibatch size; 1 = per-example SGD, 'full' = full-batch gradient descent")
    g.add_argument("--epochs", type=positive_int, default=d.epochs)
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--loss", default=d.loss, choices=["softmax", "svm"])
    g.add_argument("--clip-grad-norm", type=positive_float, default=d.clip_grad_norm)
    g.add_argument("--schedule", default=d.schedule, help="learning-rate decay, e.g. step:every=10,factor=0.5, "
                   "exp:k=0.05, invtime:k=0.1, cosine, warmup=5+cosine ('none' for a constant rate)")
    g.add_argument("--schedule-per", default=d.schedule_per, choices=["step", "epoch"],
                   help="the unit t of the schedule")
    g.add_argument("--plateau", action="store_true", help="reduce the lr when the validation loss plateaus")
    g = p.add_argument_group("regularization and ensembles")
    g.add_argument("--l2", type=nonneg_float, default=d.l2, help="lambda of the L2 (Ridge) penalty sum W^2")
    g.add_argument("--l1", type=nonneg_float, default=d.l1, help="lambda of the L1 (Lasso) penalty sum |W|")
    g.add_argument("--elastic-net", type=nonneg_float, default=d.elastic_net,
                   help="lambda of the elastic net sum beta W^2 + |W|")
    g.add_argument("--elastic-beta", type=nonneg_float, default=d.elastic_beta)
    g.add_argument("--augment", default=d.augment,
                   help="data augmentation, e.g. 'default', 'shift=3,scale=0.1,noise=0.05' or 'flip,crop=4'")
    g.add_argument("--snapshots", type=positive_int, default=d.snapshots,
                   help="snapshot ensemble: K cosine-restart cycles, the K snapshots averaged at test time")
    g.add_argument("--ema", type=probability, default=d.ema, help="exponential moving average of the weights")
    g = p.add_argument_group("babysitting and output")
    g.add_argument("--no-monitor", dest="monitor", action="store_false", help="switch the babysitting monitor off")
    g.add_argument("--tensorboard", action="store_true", help="log to TensorBoard (descent[tensorboard])")
    g.add_argument("--checkpoint-every", type=nonneg_int, default=d.checkpoint_every)
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="always show a progress bar")
    g.add_argument("--no-progress", dest="progress", action="store_false")
    g.add_argument("--device", default=d.device)
    g.add_argument("--threads", type=positive_int, default=d.threads, help="torch intra-op threads")


def add_optimizer_arguments(p: argparse.ArgumentParser, defaults: TrainConfig | None = None) -> None:
    from ..optim import OPTIMIZERS

    d = defaults or TrainConfig()
    g = p.add_argument_group("optimizer")
    g.add_argument("--optimizer", default=d.optimizer, help=f"one of {', '.join(OPTIMIZERS)}")
    g.add_argument("--lr", type=positive_float, default=d.lr, help="learning rate (default: the optimizer's)")
    g.add_argument("--momentum", type=nonneg_float, default=d.momentum)
    g.add_argument("--weight-decay", type=nonneg_float, default=d.weight_decay)
    g.add_argument("--hyper", type=hyper_pairs, default={}, help="other optimizer keywords: betas=[0.9,0.99],eps=1e-7")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig()
    for key, value in vars(args).items():
        if hasattr(cfg, key) and key != "hyper":
            setattr(cfg, key, value)
    cfg.hyper = dict(getattr(args, "hyper", {}) or {})
    if cfg.schedule and cfg.schedule.lower() == "none":
        cfg.schedule = None
    return cfg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model; writes metrics.json, history.csv, curves.png",
                       description="Train one model on one dataset with one optimizer.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overfit-check", action="store_true",
                   help="first check that a tiny subset can be overfit to ~100%% (the lecture's sanity check)")
    add_optimizer_arguments(p)
    add_training_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train import run_training

    cfg = config_from_args(args)
    if args.overfit_check:
        from ..train.monitor import overfit_check

        result = overfit_check(cfg)
        print(f"overfit check: {result}")
    metrics = run_training(cfg, args.out, resume=args.resume)
    line = (f"test accuracy {metrics['test_accuracy']:.4f}  val accuracy {metrics['val_accuracy']:.4f}  "
            f"epochs {metrics['epochs_run']}  train {metrics['train_seconds']:.1f}s  -> {args.out}")
    print(line)
    if metrics.get("stop_reason"):
        print(f"stopped early: {metrics['stop_reason']}")
    return 0
