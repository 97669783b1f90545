"""Check a whole :class:`~descent.config.TrainConfig` before any work is done, and keep what the checks
found: the registry entry of the optimizer, the parsed schedule, the augmentation module and the device.
The job's build step uses these objects; nothing is parsed twice.

Every message has :mod:`descent.checks`' wording, ``invalid NAME=VALUE: must be ...``, with NAME the flat
name the command line and search spaces use (``lr``, ``batch_size``, ``schedule``...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .. import augment as augment_module
from .. import checks, data, losses, models, schedules
from ..config import TrainConfig
from ..optim import registry
from .ensemble import snapshot_cycle_epochs

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


@dataclass(frozen=True)
class Job:
    """A checked configuration and the objects its names resolved to."""

    config: TrainConfig
    entry: registry.OptimizerEntry
    hyper: dict[str, Any]              # the optimizer's keywords: registry defaults, then the config's
    schedule: schedules.ScheduleSpec | None
    augment: nn.Module | None
    device: torch.device

    def build_optimizer(self, params: Any) -> torch.optim.Optimizer:
        """The configured optimizer over ``params``, at the config's ``lr`` or else the registry's default."""
        lr = self.entry.lr if self.config.optimizer.lr is None else self.config.optimizer.lr
        return self.entry.factory(params, lr=lr, **self.hyper)


def resolve(cfg: TrainConfig) -> Job:
    """Every value of ``cfg`` checked; raises ValueError naming the first bad one.

    >>> from descent.config import TrainConfig
    >>> job = resolve(TrainConfig.of(optimizer="momentum", lr=0.05, schedule="step:every=10,factor=0.5"))
    >>> job.entry.name, job.schedule.build(0.05, 30)(10)
    ('momentum', 0.025)
    >>> resolve(TrainConfig.of(batch_size=0))
    Traceback (most recent call last):
    ...
    ValueError: invalid batch_size=0: must be a positive integer
    """
    _check_data(cfg)
    _check_model(cfg)
    entry, hyper = _resolve_optimizer(cfg)
    schedule = _resolve_schedule(cfg)
    r = cfg.regularize
    for name in ("l1", "l2", "elastic_net", "elastic_beta"):
        checks.nonnegative(name, getattr(r, name))
    if r.ema is not None:
        checks.in_unit_interval("ema", r.ema)
    if r.clip_grad_norm is not None:
        checks.positive("clip_grad_norm", r.clip_grad_norm)
    run = cfg.run
    checks.positive_int("epochs", run.epochs)
    if run.batch_size is not None:
        checks.positive_int("batch_size", run.batch_size)
    if not checks.is_integer(run.seed):
        raise checks.invalid("seed", run.seed, "an integer")
    checks.one_of("loss", run.loss, losses.LOSSES)
    checks.nonnegative_int("checkpoint_every", run.checkpoint_every)
    checks.nonnegative_int("sharpness_every", run.sharpness_every)
    if run.threads is not None:
        checks.positive_int("threads", run.threads)
    augment = None
    if cfg.data.augment:
        augment = augment_module.parse(cfg.data.augment, data.KINDS[cfg.data.name])
    device = resolve_device(run.device)
    return Job(cfg, entry, hyper, schedule, None if augment is None else augment.to(device), device)


def resolve_device(name: str) -> torch.device:
    """A device torch knows and this machine has."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise checks.invalid("device", name, "a torch device such as cpu, cuda or cuda:1") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise checks.invalid("device", name, "a device this machine has (torch sees no CUDA device here)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise checks.invalid("device", name, f"one of the {torch.cuda.device_count()} CUDA devices")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise checks.invalid("device", name, "a device this machine has (no MPS here)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise checks.invalid("device", name, "cpu, cuda or mps")
    return device


def _check_data(cfg: TrainConfig) -> None:
    d = cfg.data
    checks.one_of("data", d.name, data.DATASETS)
    if d.name in data.FROM_FILES and not d.data_dir:
        raise checks.invalid("data_dir", d.data_dir, f"the folder holding the {d.name} files")
    if d.name not in data.FROM_FILES and d.data_dir is not None:
        raise checks.invalid("data_dir", d.data_dir, f"unset: {d.name} is built in, it reads no files")
    checks.in_unit_interval("val_fraction", d.val_fraction)
    if d.train_subset is not None:
        checks.positive_int("train_subset", d.train_subset)


def _check_model(cfg: TrainConfig) -> None:
    m = cfg.model
    checks.one_of("model", m.arch, models.MODELS)
    if m.width is not None:
        checks.positive_int("width", m.width)
    if m.depth is not None:
        checks.nonnegative_int("depth", m.depth)
    checks.one_of("activation", m.activation, models.ACTIVATIONS)
    checks.one_of("init", m.init, models.INITS)
    checks.positive("init_std", m.init_std)
    checks.in_unit_interval("dropout", m.dropout)
    checks.in_unit_interval("dropconnect", m.dropconnect)
    kind = data.KINDS[cfg.data.name]
    if m.arch == "cnn" and kind == "vector":
        raise checks.invalid("model", m.arch, f"mlp for {cfg.data.name}, whose examples are vectors")


def _resolve_optimizer(cfg: TrainConfig) -> tuple[registry.OptimizerEntry, dict[str, Any]]:
    o = cfg.optimizer
    try:
        entry = registry.get(o.name)
    except ValueError:
        raise checks.invalid("optimizer", o.name, "one of " + ", ".join(registry.OPTIMIZERS)) from None
    if o.lr is not None:
        checks.positive("lr", o.lr)
    accepted = entry.hyperparameters
    for key in o.hyper:
        if key == "lr":
            raise checks.invalid("hyper lr", o.hyper[key], "given as --lr, not inside --hyper")
        if key not in accepted:
            raise checks.invalid(key, o.hyper[key], f"a hyperparameter of {entry.name} "
                                 f"({', '.join(sorted(accepted))})")
    hyper = {**entry.defaults, **o.hyper}
    if o.convention is not None:
        if "convention" not in accepted:
            raise checks.invalid("convention", o.convention, f"left out for {entry.name} (only the first-order "
                                 "optimizers follow a framework's convention)")
        hyper["convention"] = o.convention
    for key, value in {"lr": o.lr, **hyper}.items():  # a float32 parameter cannot hold a larger factor
        if checks.is_real(value) and abs(value) > FLOAT32_MAX:
            raise checks.invalid(key, value, f"at most {FLOAT32_MAX:.3g} in absolute value (a float32)")
    if entry.name == "newton" and _has_batchnorm(cfg):
        raise checks.invalid("optimizer", o.name, "used without batch norm (add --no-batchnorm, or choose "
                             "another optimizer): Newton's torch.func Hessian cannot update its running "
                             "statistics")
    probe = nn.Parameter(torch.zeros(1))
    entry.factory([probe], lr=entry.lr if o.lr is None else o.lr, **hyper)  # the class checks each value
    return entry, hyper


def _has_batchnorm(cfg: TrainConfig) -> bool:
    """Whether the model ``cfg`` asks for has batch norm (the CNNs have it unless switched off)."""
    if cfg.model.batchnorm is not None:
        return cfg.model.batchnorm
    return cfg.model.arch == "cnn" or (cfg.model.arch == "auto" and data.KINDS[cfg.data.name] != "vector")


def available_memory(device: torch.device) -> int | None:
    """Bytes this process may still allocate on ``device`` (None if unknown)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None


def check_model_fits(cfg: TrainConfig, splits: Any, device: torch.device) -> None:
    """Refuse, before allocating it, a model whose weights, gradients and two optimizer buffers (4 copies of
    4 bytes per parameter) exceed the memory ``device`` has left; the model is first built on the meta
    device, which allocates nothing."""
    with torch.device("meta"):
        count = sum(p.numel() for p in models.build_model(cfg.model, splits).parameters())
    need, have = 16 * count, available_memory(device)
    if have is not None and need > have:
        m = cfg.model
        name, value = ("width", m.width) if m.width is not None else ("depth", m.depth)
        raise checks.invalid(name, value, f"smaller: the model has {count:,} parameters, about "
                             f"{need / 2**30:,.1f} GiB to train, and {device.type} has {have / 2**30:,.1f} GiB "
                             "available")


def _resolve_schedule(cfg: TrainConfig) -> schedules.ScheduleSpec | None:
    s = cfg.schedule
    checks.one_of("schedule_per", s.per, ("step", "epoch"))
    checks.nonnegative_int("plateau_patience", s.plateau_patience)
    checks.in_unit_interval("plateau_factor", s.plateau_factor, open_low=True)
    spec = None if s.spec in (None, "", "none") else schedules.parse_spec(s.spec)
    if s.plateau and (spec is not None or s.snapshots is not None):
        raise checks.invalid("plateau", True, "off with --schedule or --snapshots: both set the learning rate")
    if s.snapshots is not None:
        if spec is not None:
            raise checks.invalid("schedule", s.spec, "unset with --snapshots, which sets its own cosine cycles")
        snapshot_cycle_epochs(cfg.run.epochs, s.snapshots)  # 2 <= K <= epochs, with its own message
    return spec
