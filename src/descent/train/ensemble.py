"""Model ensembles: averaging the predictions of several models, Polyak/EMA averaging of one model's weights,
and the bookkeeping of snapshot ensembles.

* Ensemble of M models: ``p(y | x) = 1/M * sum_m softmax(f_m(x))``, predict ``argmax_y p(y | x)``.
* EMA of the weights (Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", 1992):
  ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` after every optimizer step (the first step copies
  ``theta``), through ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``.
  Optax: ``optax.ema`` / ``incremental_update``; Keras: ``optimizer(use_ema=True, ema_momentum=decay)``.
* Snapshot ensembles (Huang et al., "Snapshot Ensembles: Train 1, get M for free", 2017): a cosine schedule
  restarted K times over the epoch budget (Loshchilov & Hutter, "SGDR", 2017); at the end of each cycle, where
  the learning rate is smallest, the weights are saved; the K snapshots are the ensemble.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .. import checks
from .callbacks import Callback

__all__ = ["average_probabilities", "ensemble_accuracy", "EMA", "Snapshots", "snapshot_cycle_epochs",
           "snapshot_cycle_end_steps", "models_from_state_dicts"]


@torch.no_grad()
def _probabilities(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """softmax(model(x)) in evaluation mode, in batches; the model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size]).softmax(-1) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def average_probabilities(models: Sequence[nn.Module], x: torch.Tensor,
                          batch_size: int = 1024) -> torch.Tensor:
    """``1/M * sum_m softmax(f_m(x))``, shape ``(N, classes)``; each model evaluated in eval mode."""
    if len(models) == 0:
        raise ValueError("models must hold at least one model, got 0")
    return torch.stack([_probabilities(m, x, batch_size) for m in models]).mean(0)


def ensemble_accuracy(models: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor,
                      batch_size: int = 1024) -> float:
    """Fraction of ``x`` whose ``argmax`` of the averaged probabilities equals the label ``y``."""
    predicted = average_probabilities(models, x, batch_size).argmax(-1)
    return (predicted == y.to(predicted.device)).float().mean().item()


def _test_accuracies(models: Sequence[nn.Module], trainer: Any) -> dict[str, Any]:
    """Test accuracy of the ensemble and of each model, on the trainer's test split and device."""
    x, y = (t.to(trainer.device) for t in trainer.splits.test)
    return {"ensemble_test_accuracy": ensemble_accuracy(models, x, y),
            "member_test_accuracies": [ensemble_accuracy([m], x, y) for m in models]}


class EMA(Callback):
    """Exponential moving average of the model's parameters and buffers, updated after every optimizer step.

    ``averaged_model`` (an ``AveragedModel``) is built at the start of training; its ``.module`` is a network
    like the trained one. ``decay`` in [0, 1): 0.999 averages over roughly the last 1 / (1 - decay) = 1000
    steps. Buffers (batch-norm running statistics) are averaged too, so no extra pass to recompute them
    is needed. The summary holds the averaged model's test accuracy."""

    def __init__(self, decay: float = 0.999) -> None:
        self.decay = checks.in_unit_interval("ema", decay)
        self.averaged_model: AveragedModel | None = None
        self._resumed: dict[str, torch.Tensor] | None = None
        self._summary: dict[str, Any] = {}

    def on_train_begin(self, trainer: Any) -> None:
        self.averaged_model = AveragedModel(trainer.model, multi_avg_fn=get_ema_multi_avg_fn(self.decay),
                                            use_buffers=True)
        if self._resumed is not None:
            self.averaged_model.load_state_dict(self._resumed)
            self._resumed = None

    def state_dict(self) -> dict[str, Any]:
        """For the trainer's checkpoint: the averaged weights and the number of updates so far."""
        return {"averaged_model": None if self.averaged_model is None else self.averaged_model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the averages are restored when training begins (the trainer loads state before that)."""
        self._resumed = state.get("averaged_model")

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        self.averaged_model.update_parameters(trainer.model)

    def on_train_end(self, trainer: Any) -> None:
        if self.averaged_model is not None and int(self.averaged_model.n_averaged) > 0:
            acc = _test_accuracies([self.averaged_model.module], trainer)["ensemble_test_accuracy"]
            self._summary = {"ema_test_accuracy": acc}

    def summary(self) -> dict[str, Any]:
        return {"decay": self.decay, **self._summary}


def _check_snapshot_count(k: int) -> None:
    if not (checks.is_integer(k) and k >= 2):
        raise checks.invalid("snapshots", k, "an integer >= 2 (one snapshot is no ensemble)")


def snapshot_cycle_epochs(epochs: int, k: int) -> list[int]:
    """Split ``epochs`` into ``k`` cosine cycles as evenly as possible; the lengths, longest first.

    ``snapshot_cycle_epochs(10, 3) == [4, 3, 3]``. Needs ``2 <= k <= epochs``: one snapshot is no
    ensemble, and a cycle shorter than an epoch has nothing to anneal."""
    _check_snapshot_count(k)
    checks.positive_int("epochs", epochs)
    if k > epochs:
        raise checks.invalid("snapshots", k, f"at most epochs={epochs}: one cosine cycle needs at least one epoch")
    base, extra = divmod(epochs, k)
    return [base + 1 if i < extra else base for i in range(k)]


def snapshot_cycle_end_steps(epochs: int, k: int, steps_per_epoch: int) -> list[int]:
    """Optimizer steps done at the end of each cycle of :func:`snapshot_cycle_epochs` (cumulative)."""
    checks.positive_int("steps_per_epoch", steps_per_epoch)
    ends, done = [], 0
    for length in snapshot_cycle_epochs(epochs, k):
        done += length * steps_per_epoch
        ends.append(done)
    return ends


class Snapshots(Callback):
    """Copy the model's ``state_dict`` (to the CPU) at the end of each of ``k`` learning-rate cycles.

    ``cycle_end_steps``: the number of optimizer steps done when each cycle ends, increasing, ``k`` of them
    (see :func:`snapshot_cycle_end_steps`). ``state_dicts`` collects the snapshots in order; the summary
    holds the test accuracy of the snapshot ensemble, of each snapshot and of the last one."""

    def __init__(self, k: int, cycle_end_steps: Sequence[int]) -> None:
        _check_snapshot_count(k)
        ends = list(cycle_end_steps)
        if len(ends) != k:
            raise checks.invalid("cycle_end_steps", ends, f"k={k} steps, one per snapshot")
        if any(not isinstance(s, int) or s < 1 for s in ends) or any(
                a >= b for a, b in zip(ends[:-1], ends[1:], strict=True)):
            raise checks.invalid("cycle_end_steps", ends, "increasing positive integers")
        self.k, self.cycle_end_steps = k, ends
        self.state_dicts: list[dict[str, torch.Tensor]] = []
        self.taken_at: list[int] = []
        self._model: nn.Module | None = None
        self._summary: dict[str, Any] = {}

    def on_train_begin(self, trainer: Any) -> None:
        self._model = trainer.model

    def state_dict(self) -> dict[str, Any]:
        """For the trainer's checkpoint: the snapshots taken so far."""
        return {"state_dicts": self.state_dicts, "taken_at": self.taken_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the snapshots already taken (a resumed run takes only the remaining ones)."""
        self.state_dicts, self.taken_at = list(state["state_dicts"]), list(state["taken_at"])

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        if step + 1 in self.cycle_end_steps:  # ``step`` counts from 0: step + 1 steps are done
            self.state_dicts.append({k: v.detach().to("cpu", copy=True) for k, v in
                                     trainer.model.state_dict().items()})
            self.taken_at.append(step + 1)

    def models(self, template: nn.Module | None = None) -> list[nn.Module]:
        """One network per snapshot, copies of ``template`` (default: the trained model) with its weights."""
        template = template if template is not None else self._model
        if template is None:
            raise ValueError("no template model: pass one, or use the callback in a training run first")
        return models_from_state_dicts(template, self.state_dicts)

    def on_train_end(self, trainer: Any) -> None:
        self._summary = {}
        if self.state_dicts:
            device = trainer.device
            result = _test_accuracies([m.to(device) for m in self.models(trainer.model)], trainer)
            self._summary = {**result, "last_snapshot_test_accuracy": result["member_test_accuracies"][-1]}

    def summary(self) -> dict[str, Any]:
        return {"k": self.k, "cycle_end_steps": self.cycle_end_steps, "taken_at_steps": self.taken_at,
                **self._summary}


def models_from_state_dicts(template: nn.Module,
                            state_dicts: Sequence[dict[str, torch.Tensor]]) -> list[nn.Module]:
    """Deep copies of ``template``, each loaded with one state dict (strict), in evaluation mode."""
    models = []
    for state in state_dicts:
        model = copy.deepcopy(template)
        model.load_state_dict(state)
        models.append(model.eval())
    return models
