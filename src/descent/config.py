"""The configuration of one training run: a tree of small frozen dataclasses, each handed only to its user.

::

    TrainConfig
      data:       DataConfig        -> descent.data.load, descent.augment
      model:      ModelConfig       -> descent.models.build_model
      optimizer:  OptimizerConfig   -> descent.optim.registry (name, lr, hyperparameters)
      schedule:   ScheduleConfig    -> descent.train.lr (schedule | plateau | snapshot cycles)
      regularize: RegularizeConfig  -> descent.regularization, EMA
      run:        RunConfig         -> the trainer and the job (epochs, batches, seed, outputs)

``metrics.json`` records ``to_dict()`` and a checkpoint carries it, so a resumed run rebuilds exactly the
same objects. Every field also has a flat name, the one the command line and search spaces use
(``lr``, ``momentum``, ``dropout``...): :func:`TrainConfig.replace` takes flat names.

>>> cfg = TrainConfig.of(lr=0.1, momentum=0.9, optimizer="momentum", epochs=5)
>>> cfg.optimizer
OptimizerConfig(name='momentum', lr=0.1, hyper={'momentum': 0.9}, convention=None)
>>> cfg.run.epochs
5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, how it is standardized, split, subsetted and augmented."""

    name: str = "mnist1d"
    data_dir: str | None = None
    standardize: bool = True          # zero mean / unit variance from training statistics only
    val_fraction: float = 0.1         # carved from the training split, seeded
    train_subset: int | None = None   # keep only this many training examples (the overfitting experiment)
    augment: str | None = None        # compact spelling, see descent.augment.parse


@dataclass(frozen=True)
class ModelConfig:
    """The network: architecture, size, activation, initialisation, batch norm and dropout."""

    arch: str = "auto"                # auto | mlp | cnn  (auto: cnn for mnist1d and images, mlp otherwise)
    width: int | None = None          # hidden units (mlp) or channels (cnn); None = the model's default
    depth: int | None = None          # hidden layers (mlp) or conv blocks (cnn)
    activation: str = "relu"          # relu | tanh | sigmoid
    init: str = "he"                  # he | xavier | normal
    init_std: float = 0.01            # std of init=normal
    batchnorm: bool | None = None     # None = the model's default (on in the CNNs, off in the MLP)
    dropout: float = 0.0              # drop probability p (inverted dropout)
    dropconnect: float = 0.0          # drop probability of weights in the classifier's hidden layers
    fractional_pool: bool = False     # FractionalMaxPool2d in the 2-D CNN


@dataclass(frozen=True)
class OptimizerConfig:
    """The optimizer's registry name, learning rate, other hyperparameters and formula convention."""

    name: str = "adam"
    lr: float | None = None           # None = the registry's lr for that optimizer
    hyper: dict[str, Any] = field(default_factory=dict)  # momentum, weight_decay, betas, eps, ...
    convention: str | None = None     # torch | keras | optax | cs231n (descent.optim.conventions); None = torch's
                                      # defaults with every formula flag free


@dataclass(frozen=True)
class ScheduleConfig:
    """The learning-rate schedule, reduce-on-plateau and snapshot cycles."""

    spec: str | None = None           # compact spelling, see descent.schedules.parse
    per: str = "epoch"                # epoch | step: the unit t of the schedule
    plateau: bool = False             # reduce-on-plateau of the validation loss
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    snapshots: int | None = None      # snapshot ensemble with K cosine cycles (its own schedule)


@dataclass(frozen=True)
class RegularizeConfig:
    """Weight penalties (L1, L2, elastic net), EMA of the weights and gradient-norm clipping."""

    l1: float = 0.0
    l2: float = 0.0
    elastic_net: float = 0.0          # lambda of the elastic net
    elastic_beta: float = 0.5         # beta of the elastic net: sum beta W^2 + |W|
    ema: float | None = None          # exponential moving average of the weights (decay)
    clip_grad_norm: float | None = None


@dataclass(frozen=True)
class RunConfig:
    """How the run goes: epochs, batches, seed, loss, device, processes, threads, checkpoints and monitoring."""

    epochs: int = 30
    batch_size: int | None = 128      # None = full batch
    seed: int = 0
    loss: str = "softmax"             # softmax | svm
    monitor: bool = True
    tensorboard: bool = False
    device: str = "cpu"
    world_size: int = 1               # processes of a data-parallel run (set by the launcher, not a flag)
    sync_batchnorm: bool = False      # data parallel: batch norm over the global batch, not each rank's share
    threads: int | None = None        # torch intra-op threads; None = chosen for the machine's load
    checkpoint_every: int = 1         # epochs between checkpoints (0 = none)
    sharpness_every: int = 0          # optimizer steps between top-Hessian-eigenvalue estimates (0 = none)
    progress: bool | None = None      # None = only on a terminal


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "optimizer": OptimizerConfig,
                             "schedule": ScheduleConfig, "regularize": RegularizeConfig, "run": RunConfig}

# flat name -> (section, field). Where a field's own name would be ambiguous or read badly alone, the flat
# name differs: data.name is "data", model.arch "model", optimizer.name "optimizer", schedule.spec
# "schedule", schedule.per "schedule_per".
_RENAMED = {("data", "name"): "data", ("model", "arch"): "model", ("optimizer", "name"): "optimizer",
            ("schedule", "spec"): "schedule", ("schedule", "per"): "schedule_per"}
FLAT: dict[str, tuple[str, str]] = {
    _RENAMED.get((section, f.name), f.name): (section, f.name)
    for section, cls in SECTIONS.items() for f in fields(cls) if (section, f.name) != ("optimizer", "hyper")
}
# hyperparameters common enough to have their own flag; they live in optimizer.hyper
HYPER_FLAGS = ("momentum", "weight_decay")


@dataclass(frozen=True)
class TrainConfig:
    """One training run's whole configuration: a section per part of the run (see the module docstring)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    regularize: RegularizeConfig = field(default_factory=RegularizeConfig)
    run: RunConfig = field(default_factory=RunConfig)

    @classmethod
    def of(cls, **flat: Any) -> TrainConfig:
        """The default configuration with fields given by flat name: ``TrainConfig.of(lr=0.1, epochs=5)``."""
        return cls().replace(**flat)

    def replace(self, **flat: Any) -> TrainConfig:
        """A copy with fields given by flat name (``lr=0.1``, ``dropout=0.5``, ``momentum=0.9``); an
        optimizer hyperparameter that is not a field (``momentum``, ``betas``) goes into ``optimizer.hyper``;
        ``None`` for a hyperparameter removes it."""
        changes: dict[str, dict[str, Any]] = {}
        hyper = dict(self.optimizer.hyper)
        for name, value in flat.items():
            if name in FLAT:
                section, key = FLAT[name]
                changes.setdefault(section, {})[key] = value
            elif name in HYPER_FLAGS or name == "hyper":
                if name == "hyper":
                    hyper.update(value)
                elif value is None:
                    hyper.pop(name, None)
                else:
                    hyper[name] = value
            else:
                raise ValueError(f"invalid {name}={value!r}: must be one of the configuration's fields "
                                 f"({', '.join(sorted([*FLAT, *HYPER_FLAGS]))})")
        changes.setdefault("optimizer", {})["hyper"] = hyper
        return dataclasses.replace(self, **{s: dataclasses.replace(getattr(self, s), **kw)
                                            for s, kw in changes.items()})

    def get(self, name: str) -> Any:
        """A field by flat name; an optimizer hyperparameter from ``optimizer.hyper`` (None if unset)."""
        if name in FLAT:
            section, key = FLAT[name]
            return getattr(getattr(self, section), key)
        return self.optimizer.hyper.get(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts (JSON and ``torch.load(weights_only=True)`` safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`; also reads the flat dicts of descent 0.1 checkpoints."""
        if not isinstance(d.get("run"), dict):
            legacy = {k: v for k, v in d.items() if k in FLAT or k in HYPER_FLAGS or k == "hyper"}
            return cls().replace(**legacy)
        parts = {}
        for section, section_cls in SECTIONS.items():
            known = {f.name for f in fields(section_cls)}
            values = {k: v for k, v in (d.get(section) or {}).items() if k in known}
            if "hyper" in values:
                values["hyper"] = dict(values["hyper"])
            parts[section] = section_cls(**values)
        return cls(**parts)

    def flat(self) -> dict[str, Any]:
        """Every field by flat name, hyperparameters included: what a results table shows."""
        return {name: self.get(name) for name in FLAT} | dict(self.optimizer.hyper)
