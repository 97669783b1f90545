"""The training flags shared by ``train``, ``compare`` and ``search``, declared once per configuration section.

Each flag names the configuration field it sets (its flat name, see :mod:`descent.config`). A flag that is
not given leaves no attribute on the parsed namespace (``argparse.SUPPRESS``), so :func:`config_from_args`
knows exactly which values the user gave: they are laid over the command's base configuration, or, on
``--resume``, over the checkpoint's, where the training job refuses any that contradicts it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import FLAT, HYPER_FLAGS, TrainConfig
from ._common import nonneg_float, nonneg_int, positive_float, positive_int, probability


def batch_size(text: str) -> int | None:
    """A positive integer, or 'full' for full-batch gradient descent."""
    if text.lower() == "full":
        return None
    return positive_int(text)


def schedule(text: str) -> str | None:
    """A schedule spec; 'none' is a constant rate."""
    return None if text.strip().lower() == "none" else text


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


def _on(dest: str, **kw: Any) -> dict[str, Any]:
    return dict(dest=dest, action="store_const", const=True, **kw)


def _off(dest: str, **kw: Any) -> dict[str, Any]:
    return dict(dest=dest, action="store_const", const=False, **kw)


# (group title, [(flag, argparse keywords)]); ``dest`` is the field's flat name
OPTIMIZER_FLAGS = ("optimizer", [
    ("--optimizer", dict(dest="optimizer", help="a registry name (descent.optim.OPTIMIZERS)")),
    ("--lr", dict(dest="lr", type=positive_float, help="learning rate (default: the optimizer's)")),
    ("--momentum", dict(dest="momentum", type=nonneg_float)),
    ("--weight-decay", dict(dest="weight_decay", type=nonneg_float)),
    ("--hyper", dict(dest="hyper", type=hyper_pairs, help="other optimizer keywords: betas=[0.9,0.99],eps=1e-7")),
    ("--convention", dict(dest="convention", choices=["torch", "keras", "optax", "cs231n"],
                          help="that framework's defaults and update formulas for the first-order optimizers")),
])
TRAINING_FLAGS = [
    ("data", [
        ("--data", dict(dest="data", help="mnist1d, digits, spiral, or mnist / fashion-mnist / cifar10 with "
                                          "--data-dir")),
        ("--data-dir", dict(dest="data_dir", help="folder holding the files of mnist, fashion-mnist, cifar10")),
        ("--no-standardize", _off("standardize", help="skip zero-mean / unit-variance preprocessing")),
        ("--val-fraction", dict(dest="val_fraction", type=nonneg_float)),
        ("--train-subset", dict(dest="train_subset", type=positive_int,
                                help="keep only N training examples (the overfitting experiment)")),
        ("--augment", dict(dest="augment", help="data augmentation, e.g. 'default', "
                                                "'shift=3,scale=0.1,noise=0.05' or 'flip,crop=4'")),
    ]),
    ("model", [
        ("--model", dict(dest="model", choices=["auto", "mlp", "cnn"])),
        ("--width", dict(dest="width", type=positive_int)),
        ("--depth", dict(dest="depth", type=nonneg_int)),
        ("--activation", dict(dest="activation", choices=["relu", "tanh", "sigmoid"])),
        ("--init", dict(dest="init", choices=["he", "xavier", "normal"])),
        ("--init-std", dict(dest="init_std", type=positive_float, help="std of --init normal")),
        ("--batchnorm", _on("batchnorm")),
        ("--no-batchnorm", _off("batchnorm")),
        ("--dropout", dict(dest="dropout", type=probability, help="drop probability p (inverted dropout)")),
        ("--dropconnect", dict(dest="dropconnect", type=probability,
                               help="drop probability of weights in the classifier's hidden layer")),
        ("--fractional-pool", _on("fractional_pool", help="fractional max pooling in the 2-D CNN")),
    ]),
    ("optimization", [
        ("--batch-size", dict(dest="batch_size", type=batch_size,
                              help="minibatch size; 1 = per-example SGD, 'full' = full-batch gradient descent")),
        ("--epochs", dict(dest="epochs", type=positive_int)),
        ("--seed", dict(dest="seed", type=int)),
        ("--loss", dict(dest="loss", choices=["softmax", "svm"])),
        ("--clip-grad-norm", dict(dest="clip_grad_norm", type=positive_float)),
        ("--schedule", dict(dest="schedule", type=schedule,
                            help="learning-rate decay, e.g. step:every=10,factor=0.5, exp:k=0.05, invtime:k=0.1, "
                                 "cosine, warmup=5+cosine ('none' for a constant rate)")),
        ("--schedule-per", dict(dest="schedule_per", choices=["step", "epoch"], help="the unit t of the schedule")),
        ("--plateau", _on("plateau", help="reduce the lr when the validation loss plateaus")),
    ]),
    ("regularization and ensembles", [
        ("--l2", dict(dest="l2", type=nonneg_float, help="lambda of the L2 (Ridge) penalty sum W^2")),
        ("--l1", dict(dest="l1", type=nonneg_float, help="lambda of the L1 (Lasso) penalty sum |W|")),
        ("--elastic-net", dict(dest="elastic_net", type=nonneg_float,
                               help="lambda of the elastic net sum beta W^2 + |W|")),
        ("--elastic-beta", dict(dest="elastic_beta", type=nonneg_float)),
        ("--snapshots", dict(dest="snapshots", type=positive_int,
                             help="snapshot ensemble: K cosine-restart cycles, the K snapshots averaged")),
        ("--ema", dict(dest="ema", type=probability, help="exponential moving average of the weights")),
    ]),
    ("babysitting and output", [
        ("--no-monitor", _off("monitor", help="switch the babysitting monitor off")),
        ("--tensorboard", _on("tensorboard", help="log to TensorBoard (descent[tensorboard])")),
        ("--checkpoint-every", dict(dest="checkpoint_every", type=nonneg_int)),
        ("--sharpness-every", dict(dest="sharpness_every", type=nonneg_int,
                                   help="record the top Hessian eigenvalue every K optimizer steps in "
                                        "sharpness.csv (0 = never)")),
        ("--progress", _on("progress", help="always show a progress bar")),
        ("--no-progress", _off("progress")),
        ("--device", dict(dest="device")),
        ("--sync-batchnorm", _on("sync_batchnorm", help="with --nproc: batch norm over the global batch "
                                                        "(moments all-reduced), not each process's share")),
        ("--threads", dict(dest="threads", type=positive_int,
                            help="torch intra-op threads (default: 1 or all cores, whichever runs the steps "
                                 "faster, timed while training)")),
    ]),
]


def _add(p: argparse.ArgumentParser, title: str, flags: list, base: TrainConfig) -> None:
    g = p.add_argument_group(title)
    for flag, kw in flags:
        kw = dict(kw)
        dest = kw["dest"]
        if kw.get("action") != "store_const" and (dest in FLAT or dest in HYPER_FLAGS):
            default = base.get(dest)
            kw["help"] = (kw.get("help", "") + f" (default: {default})").strip()
        g.add_argument(flag, default=argparse.SUPPRESS, **kw)


def add_training_arguments(p: argparse.ArgumentParser, base: TrainConfig) -> None:
    """Every configuration flag but the optimizer's, with ``base``'s values shown as defaults."""
    for title, flags in TRAINING_FLAGS:
        _add(p, title, flags, base)


def add_optimizer_arguments(p: argparse.ArgumentParser, base: TrainConfig) -> None:
    _add(p, *OPTIMIZER_FLAGS, base)


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration values the user gave, by flat name (``--hyper``'s keys merged in and checked)."""
    values = {name: getattr(args, name) for name in (*FLAT, *HYPER_FLAGS) if hasattr(args, name)}
    hyper = dict(getattr(args, "hyper", {}) or {})
    for key, value in hyper.items():
        if key in HYPER_FLAGS and key in values:
            raise ValueError(f"invalid --hyper {key}={value!r}: must not repeat --{key.replace('_', '-')} "
                             f"{values[key]!r}")
        if key in FLAT:
            raise ValueError(f"invalid --hyper {key}={value!r}: must be given as --{key.replace('_', '-')}, "
                             "not inside --hyper")
    return {**values, **({"hyper": hyper} if hyper else {})}


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """``base`` with every value the user gave."""
    return base.replace(**given(args))
