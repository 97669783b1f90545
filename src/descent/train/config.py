"""The whole configuration of one training run: what ``descent train`` parses, what ``metrics.json`` records
and what a checkpoint carries, so a resumed run rebuilds exactly the same objects."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class TrainConfig:
    # data
    data: str = "mnist1d"
    data_dir: str | None = None
    standardize: bool = True          # zero mean / unit variance from training statistics only
    val_fraction: float = 0.1         # carved from the training split, seeded
    train_subset: int | None = None   # keep only this many training examples (the overfitting experiment)
    # model
    model: str = "auto"               # auto | mlp | cnn  (auto: cnn for mnist1d and images, mlp otherwise)
    width: int | None = None          # hidden units (mlp) or channels (cnn); None = the model's default
    depth: int | None = None          # hidden layers (mlp) or conv blocks (cnn)
    activation: str = "relu"          # relu | tanh | sigmoid
    init: str = "he"                  # he | xavier | normal
    init_std: float = 0.01            # std of init=normal
    batchnorm: bool | None = None     # None = the model's default (on in the CNNs, off in the MLP)
    dropout: float = 0.0              # drop probability p (inverted dropout)
    dropconnect: float = 0.0          # drop probability of weights in the classifier's hidden layers
    fractional_pool: bool = False     # FractionalMaxPool2d in the 2-D CNN
    # optimization
    optimizer: str = "adam"
    lr: float | None = None           # None = the registry's lr for that optimizer
    momentum: float | None = None
    weight_decay: float | None = None
    hyper: dict[str, Any] = field(default_factory=dict)  # any other optimizer keyword (betas, eps, ...)
    batch_size: int | None = 128      # None = full batch
    epochs: int = 30
    seed: int = 0
    loss: str = "softmax"             # softmax | svm
    clip_grad_norm: float | None = None
    # learning-rate schedule
    schedule: str | None = None       # compact spelling, see descent.schedules.parse
    schedule_per: str = "step"        # step | epoch
    plateau: bool = False             # reduce-on-plateau of the validation loss
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    # regularization and ensembles
    l1: float = 0.0
    l2: float = 0.0
    elastic_net: float = 0.0          # lambda of the elastic net
    elastic_beta: float = 0.5         # beta of the elastic net: sum beta W^2 + |W|
    augment: str | None = None        # compact spelling, see descent.augment.parse
    snapshots: int | None = None      # snapshot ensemble with K cosine cycles
    ema: float | None = None          # exponential moving average of the weights (decay)
    # babysitting
    monitor: bool = True
    overfit_check: bool = False
    tensorboard: bool = False
    # bookkeeping
    device: str = "cpu"
    threads: int | None = None        # torch intra-op threads; None = torch's default
    checkpoint_every: int = 1         # epochs between checkpoints (0 = none)
    progress: bool | None = None      # None = only on a terminal

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
