"""The trainer's extension points. A callback sees the trainer at fixed moments of the loop; the learning-rate
controller, checkpointing, the monitor (babysitting), snapshot ensembles, EMA weights and TensorBoard logging
are all callbacks, run in the order they are given.

A callback may stop the run by raising :class:`StopTraining` with a diagnosis; the trainer records the reason
in ``metrics.json`` and still writes its outputs. A callback with state has ``state_dict`` /
``load_state_dict``; the trainer's checkpoint keeps that state under the callback's ``name``.
"""

from __future__ import annotations

import os
from typing import Any

from . import checkpoint


class StopTraining(Exception):
    """Raised by a callback to end training early (NaN loss, exploding loss, ...). The message is the diagnosis."""


class Callback:
    """Override any of these; every method is a no-op by default."""

    @property
    def name(self) -> str:
        """The key of this callback's state in checkpoints and of its summary in ``metrics.json``."""
        return type(self).__name__.lower()

    def on_train_begin(self, trainer: Any) -> None:
        """Before the first step of the run (also of a resumed one): set up what the callback watches."""

    def after_backward(self, trainer: Any, step: int) -> None:
        """Gradients are ready, parameters not yet updated (gradient norms, update/weight ratio setup)."""

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        """After ``optimizer.step()``; ``step`` counts optimizer steps from 0, ``loss`` is the batch loss."""

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        """``record`` holds the epoch's train/val loss and accuracy and lr; callbacks may add keys."""

    def on_train_end(self, trainer: Any) -> None:
        """After the last epoch, or when the run stops early (``trainer.stop_reason`` says why)."""

    def summary(self) -> dict[str, Any]:
        """What this callback wants saved into ``metrics.json`` (under its own key)."""
        return {}


class Checkpointing(Callback):
    """Save the whole trainer every ``every`` epochs, after the last epoch and when a run stops early.

    Give it last, so that the state it saves includes every other callback's update for the epoch."""

    name = "checkpointing"

    def __init__(self, path: str | os.PathLike, config: dict[str, Any], every: int = 1) -> None:
        self.path, self.config, self.every = path, config, every

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        done = epoch + 1
        if done % self.every == 0 or done == trainer.plan.epochs:
            self.save(trainer)

    def on_train_end(self, trainer: Any) -> None:
        if trainer.stop_reason is not None and not trainer.diverged:  # never overwrite good weights with bad
            self.save(trainer)

    def save(self, trainer: Any) -> None:
        """Write ``trainer.state_dict()`` and the run's config to ``path`` now."""
        checkpoint.save(self.path, self.config, trainer.state_dict())
