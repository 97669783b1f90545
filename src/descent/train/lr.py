"""The one controller of the learning rate during training: a schedule, reduce-on-plateau, or snapshot cycles.

:class:`LearningRate` is a trainer callback. Whatever sets the rate, it writes it into the optimizer's param
groups at fixed points of the loop, so the trainer itself never touches the rate:

* a schedule ``t -> lr`` (:mod:`descent.schedules`), stepped after every optimizer step (``per="step"``) or
  after every epoch (``per="epoch"``); the rate of step/epoch ``t`` is ``schedule(t)`` exactly;
* reduce-on-plateau (``torch.optim.lr_scheduler.ReduceLROnPlateau``) of the validation loss, after every
  epoch whose validation loss is finite;
* snapshot ensembles' K cosine cycles over the epoch budget (Huang et al., 2017), a schedule per step.

Its state (the adapters' ``state_dict``) rides in the trainer's checkpoint, so a resumed run continues the
same rates. ``learning_rate(config, optimizer, plan)`` builds it from a :class:`~descent.config.ScheduleConfig`.

>>> import torch
>>> from descent import schedules
>>> w = torch.zeros(1, requires_grad=True)
>>> opt = torch.optim.SGD([w], lr=1.0)
>>> control = LearningRate(opt, schedule=schedules.step_decay(1.0, every=2, factor=0.5), per="epoch")
>>> rates = []
>>> for epoch in range(4):
...     opt.step()  # the epoch's training
...     rates.append(round(control.epoch_done(val_loss=0.0), 3))
>>> rates
[1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from .. import checks, schedules
from .callbacks import Callback
from .ensemble import snapshot_cycle_epochs

if TYPE_CHECKING:
    from ..config import ScheduleConfig
    from .plan import BatchPlan


class LearningRate(Callback):
    """Set the optimizer's rate from ``schedule`` (per ``"step"`` or ``"epoch"``) and/or ``plateau``."""

    name = "learning_rate"

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Callable[[int], float] | None = None,
                 per: str = "epoch", plateau: ReduceLROnPlateau | None = None) -> None:
        self.optimizer = optimizer
        self.per = checks.one_of("schedule_per", per, ("step", "epoch"))
        self.scheduler = None if schedule is None else schedules.LRSchedule(optimizer, schedule)
        self.plateau = plateau

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        if self.scheduler is not None and self.per == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self.epoch_done(record.get("val_loss", math.nan))

    def epoch_done(self, val_loss: float) -> float:
        """Advance the per-epoch controllers after an epoch; returns the rate the next epoch starts with."""
        if self.scheduler is not None and self.per == "epoch":
            self.scheduler.step()
        if self.plateau is not None and math.isfinite(val_loss):
            self.plateau.step(val_loss)
        return self.lr

    def state_dict(self) -> dict[str, Any]:
        """For the trainer's checkpoint: the schedule's and the plateau controller's state."""
        return {"scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "plateau": None if self.plateau is None else self.plateau.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: restore the controllers this callback has from what :meth:`state_dict` saved."""
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])


def snapshot_cycles(lr: float, epochs: int, k: int, steps_per_epoch: int) -> schedules.Schedule:
    """K cosine cycles from ``lr`` to 0 over ``epochs`` epochs, each ending at an epoch boundary, per step."""
    lengths = [e * steps_per_epoch for e in snapshot_cycle_epochs(epochs, k)]
    return schedules.join([schedules.cosine_decay(lr, n) for n in lengths],
                          [sum(lengths[: i + 1]) for i in range(len(lengths) - 1)])


def learning_rate(config: ScheduleConfig, schedule: Any, optimizer: torch.optim.Optimizer,
                  plan: BatchPlan) -> LearningRate:
    """The controller a :class:`~descent.config.ScheduleConfig` asks for. ``schedule`` is the resolved
    spec (``descent.schedules.parse_spec``) or None; the schedule's length is the run's length in its own
    unit: epochs for ``per="epoch"``, optimizer steps for ``per="step"``."""
    lr = optimizer.param_groups[0]["lr"]
    if config.snapshots is not None:
        cycles = snapshot_cycles(lr, plan.epochs, config.snapshots, plan.steps_per_epoch)
        return LearningRate(optimizer, cycles, per="step")
    plateau = None
    if config.plateau:
        plateau = ReduceLROnPlateau(optimizer, factor=config.plateau_factor, patience=config.plateau_patience)
    if schedule is None:
        return LearningRate(optimizer, None, config.per, plateau)
    total = plan.epochs * (plan.steps_per_epoch if config.per == "step" else 1)
    return LearningRate(optimizer, schedule.build(lr, total), config.per, plateau)
