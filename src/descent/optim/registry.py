"""The one registry of optimizers: the CLI, the trainer, the lab, ``descent compare`` and the generic tests
all iterate over :data:`OPTIMIZERS`, so a new optimizer is one new entry here.

Stand-in: until descent's own optimizers land, torch.optim classes fill the entries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class OptimizerEntry:
    """What the rest of descent needs to know about one optimizer.

    name:        the command-line name (``descent train --optimizer NAME``).
    factory:     ``factory(params, **hyper)`` builds the optimizer.
    lr:          a sensible learning rate for training the project's networks (``descent compare`` default).
    lab_lr:      a sensible learning rate on the 2-D test functions of the lab.
    defaults:    extra hyperparameters the trainer uses by default (e.g. momentum=0.9).
    closure:     True if ``step`` needs a closure that re-evaluates the loss (L-BFGS, Newton): full batch.
    configs:     labelled keyword sets the generic tests run.
    torch_twin:  ``torch_twin(params, **hyper)`` builds the torch.optim optimizer the default update must equal.
    errors:      (kwargs, message regex) pairs that must raise ValueError.
    """

    name: str
    factory: Callable[..., torch.optim.Optimizer]
    lr: float
    lab_lr: float
    defaults: dict[str, Any] = field(default_factory=dict)
    closure: bool = False
    configs: tuple[tuple[str, dict[str, Any]], ...] = ()
    torch_twin: Callable[..., torch.optim.Optimizer] | None = None
    errors: tuple[tuple[dict[str, Any], str], ...] = ()


def _entries() -> list[OptimizerEntry]:
    o = torch.optim
    return [
        OptimizerEntry("sgd", o.SGD, lr=0.1, lab_lr=0.05),
        OptimizerEntry("momentum", o.SGD, lr=0.05, lab_lr=0.01, defaults={"momentum": 0.9}),
        OptimizerEntry("nesterov", o.SGD, lr=0.05, lab_lr=0.01, defaults={"momentum": 0.9, "nesterov": True}),
        OptimizerEntry("adagrad", o.Adagrad, lr=0.02, lab_lr=0.5),
        OptimizerEntry("rmsprop", o.RMSprop, lr=1e-3, lab_lr=0.05),
        OptimizerEntry("adadelta", o.Adadelta, lr=1.0, lab_lr=1.0),
        OptimizerEntry("adam", o.Adam, lr=3e-3, lab_lr=0.1),
        OptimizerEntry("adamw", o.AdamW, lr=3e-3, lab_lr=0.1, defaults={"weight_decay": 1e-2}),
        # ---- second-order, full batch (closure) ----
        OptimizerEntry("lbfgs", o.LBFGS, lr=1.0, lab_lr=1.0, closure=True),
    ]


OPTIMIZERS: dict[str, OptimizerEntry] = {e.name: e for e in _entries()}

# The first-order optimizers `descent compare` runs by default, in the lecture's order.
LECTURE_ORDER = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam")


def get(name: str) -> OptimizerEntry:
    """Look an optimizer up by name; a ValueError lists the known names."""
    key = name.lower().replace("_", "-")
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]


def build(name: str, params: Any, lr: float | None = None, **hyper: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` over ``params`` with its registry defaults, overridden by ``hyper``."""
    entry = get(name)
    kwargs = {**entry.defaults, **{k: v for k, v in hyper.items() if v is not None}}
    return entry.factory(params, lr=entry.lr if lr is None else lr, **kwargs)
