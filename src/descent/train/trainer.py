"""The minibatch trainer: epochs of shuffled minibatches, read top to bottom::

    for each epoch:
        for each minibatch (x, y) of a seeded permutation:      # batch_size=1: per-example SGD
            x <- augment(x)                                      # training only
            loss <- L(model(x), y) + lambda R(W)
            zero_grad; loss.backward(); [clip]; optimizer.step()
            callbacks.on_batch_end                               # lr per step, EMA, snapshots, monitor
        evaluate on validation; keep the best-validation weights
        callbacks.on_epoch_end                                   # lr per epoch / plateau, ..., checkpoint

Optimizers whose ``step`` needs a closure (L-BFGS, Newton) get one that re-evaluates the full-batch loss.
Determinism: the shuffle has its own seeded generator and the torch RNG (dropout, augmentation) is seeded
once; both are saved in checkpoints, so a resumed run continues bit-identically.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from .callbacks import Callback, StopTraining
from .divergence import Diverged
from .plan import BatchPlan


class Trainer:
    """Everything it needs is given at construction; nothing is assigned onto it afterwards.

    ``plan`` fixes the batches; ``callbacks`` (in order) do everything else, the learning rate and the
    checkpoints included. ``loss_fn(scores, y)`` is the data loss, ``penalty(model)`` the regularization
    added to it, ``augment(x)`` transforms training batches; ``clip_grad_norm`` clips the gradients' global
    norm before each step; ``needs_closure``: the optimizer's ``step`` re-evaluates the loss (L-BFGS);
    ``parallel``: this process is one rank of a data-parallel run (train/distributed.py): it trains on its share
    of every batch through the DDP-wrapped ``network`` and records the whole batch's loss.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        splits: Any,
        plan: BatchPlan,
        callbacks: Iterable[Callback] = (),
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        penalty: Callable[[nn.Module], torch.Tensor] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        clip_grad_norm: float | None = None,
        needs_closure: bool = False,
        device: str | torch.device = "cpu",
        progress: bool | None = None,
        parallel: Any | None = None,
    ) -> None:
        self.model, self.optimizer, self.splits, self.plan = model, optimizer, splits, plan
        # data parallel (train/distributed.py): this rank's share of each batch, gradients all-reduced by DDP
        self.parallel = parallel
        self.network = model if parallel is None else parallel.wrap(model)
        self.callbacks = tuple(callbacks)
        names = [cb.name for cb in self.callbacks]
        if len(set(names)) != len(names):
            raise ValueError(f"invalid callbacks={names}: must have distinct names (their state is kept by name)")
        self.loss_fn = loss_fn or nn.functional.cross_entropy
        self.penalty = penalty
        self.augment = augment
        self.clip_grad_norm = clip_grad_norm
        self.needs_closure = needs_closure
        self.device = torch.device(device)
        self.progress = progress
        self.num_classes = splits.num_classes
        if len(splits.train[0]) != plan.examples:
            raise ValueError(f"invalid plan.examples={plan.examples}: must be the {len(splits.train[0])} "
                             "training examples")
        self.batch_size, self.steps_per_epoch = plan.batch_size, plan.steps_per_epoch
        self.generator = torch.Generator().manual_seed(plan.seed)
        self.step = 0
        self.epoch = 0
        self.iter_losses: list[float] = []
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_val_accuracy = -1.0
        self.best_epoch = -1
        self.stop_reason: str | None = None
        self.diverged = False  # stopped by Diverged: the weights in memory are not to be saved
        self.train_seconds = 0.0
        self.last_lr = optimizer.param_groups[0]["lr"]

    # ------------------------------------------------------------------------------------------ training

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minimised loss J + lambda R(W) and the scores it came from."""
        scores = self.network(x)
        loss = self.loss_fn(scores, y)
        if self.penalty is not None:
            loss = loss + self.penalty(self.model)
        return loss, scores

    def train_step(self, x: torch.Tensor, y: torch.Tensor, total: int | None = None) -> tuple[torch.Tensor,
                                                                                            torch.Tensor]:
        """One optimizer step on one minibatch (this rank's share of ``total`` examples); returns the
        (detached) loss of the whole batch and this share's scores."""
        if self.augment is not None:
            x = self.augment(x)
        if self.needs_closure:
            return self._closure_step(x, y)
        loss, scores = self.objective(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.parallel is None:
            loss.backward()
        else:  # weighted by N b_r / B, so DDP's average of the gradients is the whole batch's gradient
            (loss * self.parallel.weight(len(x), total)).backward()
            loss = self.parallel.mean(loss, len(x), total)
        for cb in self.callbacks:
            cb.after_backward(self, self.step)
        if self.clip_grad_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        return loss.detach(), scores.detach()

    def _closure_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kept: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            loss, scores = self.objective(x, y)
            loss.backward()
            kept.setdefault("loss", loss.detach())
            kept.setdefault("scores", scores.detach())
            return loss

        self.optimizer.step(closure)
        return kept["loss"], kept["scores"]

    def fit(self) -> list[dict[str, Any]]:
        """Train for ``plan.epochs`` epochs (from ``self.epoch``, so a resumed trainer continues)."""
        x_train, y_train = (t.to(self.device) for t in self.splits.train)
        n = len(x_train)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        bar = _progress(self.progress, total=(self.plan.epochs - self.epoch) * self.steps_per_epoch)
        try:
            while self.epoch < self.plan.epochs and self.stop_reason is None:
                start = time.perf_counter()
                self.model.train()
                order = torch.randperm(n, generator=self.generator).to(self.device)
                total_loss = torch.zeros((), device=self.device)
                correct = torch.zeros((), dtype=torch.long, device=self.device)
                for i in range(0, n, self.batch_size):
                    batch = order[i: i + self.batch_size]
                    idx = batch if self.parallel is None else self.parallel.share(batch)
                    xb, yb = x_train[idx], y_train[idx]
                    loss, scores = self.train_step(xb, yb, len(batch))
                    self.last_lr = self.optimizer.param_groups[0]["lr"]  # the rate this step used
                    total_loss += loss * len(batch)
                    correct += (scores.argmax(1) == yb).sum()
                    loss_value = float(loss)
                    self.iter_losses.append(loss_value)
                    for cb in self.callbacks:
                        cb.on_batch_end(self, self.step, loss_value)
                    self.step += 1
                    if bar is not None:
                        bar.update(1)
                    if not math.isfinite(loss_value):
                        raise Diverged(f"the loss became {loss_value} at step {self.step - 1}: the learning "
                                       "rate is probably too large (or the data hold NaN/Inf)")
                if self.parallel is not None:
                    correct = self.parallel.sum(correct)
                record = self._end_of_epoch(float(total_loss) / n, int(correct) / n, start)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1, record)
                if bar is not None:
                    bar.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{record['val_accuracy']:.3f}")
        except StopTraining as stop:
            self.stop_reason = str(stop)
            self.diverged = isinstance(stop, Diverged)
        finally:
            if bar is not None:
                bar.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _end_of_epoch(self, train_loss: float, train_accuracy: float, start: float) -> dict[str, Any]:
        val_loss, val_accuracy = self.evaluate(*self.splits.val) if len(self.splits.val[0]) else (math.nan, 0.0)
        lr = self.last_lr
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        record = {"epoch": self.epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
                  "val_loss": val_loss, "val_accuracy": val_accuracy, "lr": lr, "seconds": seconds}
        self.history.append(record)
        if val_accuracy > self.best_val_accuracy:
            self.best_val_accuracy, self.best_epoch = val_accuracy, self.epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
        self.epoch += 1
        return record

    # ---------------------------------------------------------------------------------------- evaluation

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """Softmax class probabilities of ``x`` (rows are examples), in evaluation mode, ``batch_size`` at a time."""
        was_training = self.model.training
        self.model.eval()
        out = [torch.softmax(self.model(x[i: i + batch_size].to(self.device)), dim=1)
               for i in range(0, len(x), batch_size)]
        self.model.train(was_training)
        return torch.cat(out)

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> tuple[float, float]:
        """Mean data loss (without the penalty) and accuracy, in evaluation mode."""
        was_training = self.model.training
        self.model.eval()
        total, correct = 0.0, 0
        for i in range(0, len(x), batch_size):
            xb, yb = x[i: i + batch_size].to(self.device), y[i: i + batch_size].to(self.device)
            scores = self.model(xb)
            total += float(self.loss_fn(scores, yb)) * len(xb)
            correct += int((scores.argmax(1) == yb).sum())
        self.model.train(was_training)
        return total / max(len(x), 1), correct / max(len(x), 1)

    # ---------------------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: model, optimizer, shuffle generator, torch RNG, counters, history,
        best weights and each stateful callback's state (under its ``name``)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "iter_losses": torch.tensor(self.iter_losses, dtype=torch.float64),
            "history": self.history,
            "best_state": self.best_state,
            "best_val_accuracy": self.best_val_accuracy,
            "best_epoch": self.best_epoch,
            "train_seconds": self.train_seconds,
            "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks if hasattr(cb, "state_dict")},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved, so that :meth:`fit` continues bit-identically."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.iter_losses = state["iter_losses"].tolist()
        self.history = list(state["history"])
        self.best_state = state["best_state"]
        self.best_val_accuracy = float(state["best_val_accuracy"])
        self.best_epoch = int(state["best_epoch"])
        self.train_seconds = float(state["train_seconds"])
        saved = state.get("callbacks") or {}
        for cb in self.callbacks:
            if cb.name in saved and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(saved[cb.name])


def _progress(progress: bool | None, total: int) -> Any:
    """A tqdm bar on long work at a terminal (or when asked); None otherwise or without tqdm."""
    show = progress if progress is not None else sys.stderr.isatty()
    if not show or total <= 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)
