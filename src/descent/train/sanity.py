"""The lecture's first sanity check before any tuning: a network must be able to overfit a tiny training set.

>>> from descent.config import TrainConfig
>>> result = overfit_check(TrainConfig().replace(data="spiral", model="mlp", threads=1), examples=12)
>>> result["passed"], result["train_accuracy"]
(True, 1.0)
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

from .. import checks
from ..config import TrainConfig
from ..optim import registry
from .callbacks import Callback, StopTraining
from .job import run_training

# everything that regularizes, averages or schedules is switched off: the check is about fitting alone
_PLAIN = dict(batch_size=None, dropout=0.0, dropconnect=0.0, l1=0.0, l2=0.0, elastic_net=0.0, augment=None,
              schedule=None, plateau=False, snapshots=None, ema=None, monitor=False, tensorboard=False,
              checkpoint_every=0, progress=False)


class _StopAtPerfect(Callback):
    """Stop once every training example is classified correctly; remember the first loss."""

    name = "stop_at_perfect"
    first_loss = math.nan

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        if step == 0:
            self.first_loss = loss

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        if record.get("train_accuracy", 0.0) >= 1.0:
            raise StopTraining("reached 100% training accuracy")


def overfit_check(cfg: TrainConfig, examples: int = 20, steps: int = 300) -> dict[str, Any]:
    """Train the configured model and optimizer on ``examples`` training examples, full batch, without any
    regularization (dropout, weight decay, L1/L2, augmentation, schedules), for up to ``steps`` steps
    (stopping at the first step that classifies all of them correctly). Returns ``passed``,
    ``train_accuracy``, ``first_loss``, ``final_loss``, ``steps``, ``examples`` and a one-line ``message``.
    If it fails, something is wrong before any hyperparameter matters (a bug in the loss, the labels, the
    model, or a hopeless learning rate)."""
    checks.positive_int("examples", examples)
    checks.positive_int("steps", steps)
    decay = {"weight_decay": 0.0} if "weight_decay" in registry.get(cfg.optimizer.name).hyperparameters else {}
    tiny = cfg.replace(train_subset=examples, epochs=steps, **_PLAIN, **decay)
    recorder = _StopAtPerfect()
    with tempfile.TemporaryDirectory(prefix="descent-overfit-") as tmp:
        metrics = run_training(tiny, tmp, callbacks=[recorder])
    accuracy = float(metrics["final_train_accuracy"])
    first, final, done = recorder.first_loss, float(metrics["final_train_loss"]), int(metrics["steps"])
    passed = accuracy >= 1.0
    message = (f"{'passed' if passed else 'FAILED'}: {accuracy:.0%} training accuracy on {examples} examples "
               f"after {done} full-batch steps (loss {first:.3g} -> {final:.3g})")
    if not passed:
        message += "; a model that cannot fit a tiny training set has a bug (loss, labels) or a bad lr"
    return {"passed": passed, "train_accuracy": accuracy, "first_loss": first, "final_loss": final,
            "steps": done, "examples": examples, "message": message}
