"""Divergence: a run whose loss or weights stop being finite, or whose loss explodes, is stopped at once,
with or without the monitor, and its last good checkpoint is never overwritten by the diverged weights.

:class:`DivergenceGuard` is a callback every ``descent train`` job carries. It raises :class:`Diverged` (a
:class:`~descent.train.callbacks.StopTraining`) when

* a batch loss is NaN or infinite (the trainer checks this itself too);
* after ``warmup`` steps, the mean of the last ``window`` batch losses exceeds ``factor`` times
  ``max(first loss, ln C)`` (C classes: the loss of uniform scores), the same rule the monitor applies with
  its tighter factor 3;
* at the end of an epoch, before anything is checkpointed, a weight is NaN or infinite.

The trainer records ``diverged = True``; the checkpoint callback then keeps the file of the last good epoch,
and ``descent train`` exits with status 3.

>>> guard = DivergenceGuard(num_classes=10, warmup=2, window=2)
>>> for step, loss in enumerate([2.3, 2.2, 2.1]):
...     guard.check_loss(step, loss)
>>> guard.check_loss(3, float("nan"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
descent.train.divergence.Diverged: the loss became nan at step 3: the learning rate is probably too large ...
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import torch

from .. import checks
from .callbacks import Callback, StopTraining


class Diverged(StopTraining):
    """The run diverged; the message says where and the likely cause."""


class DivergenceGuard(Callback):
    """Stop the run with :class:`Diverged` on a non-finite loss or weight, or a loss that explodes (see above)."""

    name = "divergence"

    def __init__(self, num_classes: int, factor: float = 10.0, warmup: int = 20, window: int = 5) -> None:
        checks.positive_int("num_classes", num_classes)
        if not (checks.is_real(factor) and factor > 1):
            raise checks.invalid("factor", factor, "greater than 1")
        self.floor = math.log(num_classes) if num_classes > 1 else 1.0
        self.factor, self.warmup = float(factor), checks.nonnegative_int("warmup", warmup)
        self.first: float | None = None
        self.recent: deque[float] = deque(maxlen=checks.positive_int("window", window))

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        self.check_loss(step, loss)

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        for name, p in trainer.model.named_parameters():
            if not bool(torch.isfinite(p).all()):
                raise Diverged(f"weight {name} is not finite at the end of epoch {epoch}: the learning rate is "
                               "probably too large (or the gradients overflowed)")

    def check_loss(self, step: int, loss: float) -> None:
        """Raise :class:`Diverged` if ``loss`` (the batch loss after ``step`` steps) is not finite or has exploded."""
        if not math.isfinite(loss):
            raise Diverged(f"the loss became {loss} at step {step}: the learning rate is probably too large "
                           "(or the data hold NaN/Inf)")
        if self.first is None:
            self.first = loss
        self.recent.append(loss)
        limit = self.factor * max(self.first, self.floor)
        mean = sum(self.recent) / len(self.recent)
        if step >= self.warmup and len(self.recent) == self.recent.maxlen and mean > limit:
            raise Diverged(f"the loss exploded at step {step}: mean of the last {len(self.recent)} batches "
                           f"{mean:.3g} > {self.factor:g} x {limit / self.factor:.3g}; the learning rate is "
                           "probably too large")

    def state_dict(self) -> dict[str, Any]:
        """For the trainer's checkpoint: the first loss and the last ``window`` batch losses."""
        return {"first": self.first, "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the first loss and recent losses, so the rule continues where it stopped."""
        self.first = state["first"]
        self.recent.extend(state["recent"])
