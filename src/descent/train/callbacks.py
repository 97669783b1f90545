"""The trainer's extension points. A callback sees the trainer at fixed moments of the loop; the monitor
(babysitting), snapshot ensembles, EMA weights and TensorBoard logging are all callbacks.

A callback may stop the run by raising :class:`StopTraining` with a diagnosis; the trainer records the reason
in ``metrics.json`` and still writes its outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .trainer import Trainer


class StopTraining(Exception):
    """Raised by a callback to end training early (NaN loss, exploding loss, ...). The message is the diagnosis."""


class Callback:
    """Override any of these; every method is a no-op by default."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def after_backward(self, trainer: Trainer, step: int) -> None:
        """Gradients are ready, parameters not yet updated (gradient norms, update/weight ratio setup)."""

    def on_batch_end(self, trainer: Trainer, step: int, loss: float) -> None:
        """After ``optimizer.step()``; ``step`` counts optimizer steps from 0, ``loss`` is the batch loss."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, record: dict[str, Any]) -> None:
        """``record`` holds the epoch's train/val loss and accuracy and lr; callbacks may add keys."""

    def on_train_end(self, trainer: Trainer) -> None: ...

    def summary(self) -> dict[str, Any]:
        """What this callback wants saved into ``metrics.json`` (under its own key)."""
        return {}
