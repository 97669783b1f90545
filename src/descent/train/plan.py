"""The batch plan of a run, known before the trainer is built: how many examples, in batches of what size,
for how many epochs, shuffled by which seed.

>>> plan = BatchPlan.make(examples=1000, batch_size=128, epochs=3, seed=0)
>>> plan.steps_per_epoch, plan.total_steps
(8, 24)
>>> BatchPlan.make(examples=1000, batch_size=None, epochs=3, seed=0).batch_size  # full batch
1000
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import checks


@dataclass(frozen=True)
class BatchPlan:
    """How many training examples, in batches of what size, for how many epochs, shuffled by which seed."""

    examples: int      # training examples
    batch_size: int    # examples per optimizer step (the last batch of an epoch may be smaller)
    epochs: int
    seed: int          # seeds the shuffling generator

    @classmethod
    def make(cls, examples: int, batch_size: int | None, epochs: int, seed: int,
             full_batch: bool = False) -> BatchPlan:
        """``batch_size=None`` or ``full_batch`` (optimizers that need a closure): one batch per epoch."""
        if examples < 1:
            raise ValueError(f"invalid training examples={examples!r}: must be at least 1 (the training split "
                             "is empty; lower --val-fraction or raise --train-subset)")
        checks.positive_int("epochs", epochs)
        if batch_size is not None:
            checks.positive_int("batch_size", batch_size)
        size = examples if (batch_size is None or full_batch) else min(batch_size, examples)
        return cls(examples, size, epochs, seed)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.examples / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch
