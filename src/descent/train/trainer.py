"""The minibatch trainer: epochs of shuffled minibatches, read top to bottom.

    for each epoch:
        for each minibatch (x, y) of a seeded permutation:      # batch_size=1: per-example SGD
            x <- augment(x)                                      # training only
            loss <- L(model(x), y) + lambda R(W)
            zero_grad; loss.backward(); [clip]; optimizer.step(); scheduler.step() (per step)
        evaluate on validation; keep the best-validation weights; scheduler.step() (per epoch); checkpoint

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
from .config import TrainConfig


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        splits: Any,
        cfg: TrainConfig,
        callbacks: Iterable[Callback] = (),
        scheduler: Any = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        penalty: Callable[[nn.Module], torch.Tensor] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        needs_closure: bool = False,
    ) -> None:
        self.model, self.optimizer, self.splits, self.cfg = model, optimizer, splits, cfg
        self.callbacks = list(callbacks)
        self.scheduler = scheduler
        self.plateau: Any = None  # a ReduceLROnPlateau, stepped on the validation loss each epoch
        self.loss_fn = loss_fn or nn.functional.cross_entropy
        self.penalty = penalty
        self.augment = augment
        self.needs_closure = needs_closure
        self.device = torch.device(cfg.device)
        self.num_classes = splits.num_classes
        n = len(splits.train[0])
        self.batch_size = n if (cfg.batch_size is None or needs_closure) else min(cfg.batch_size, n)
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.epoch = 0
        self.iter_losses: list[float] = []
        self.history: list[dict[str, Any]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_val_accuracy = -1.0
        self.best_epoch = -1
        self.stop_reason: str | None = None
        self.train_seconds = 0.0
        self.on_epoch_checkpoint: Callable[[Trainer], None] | None = None
        self.schedule_per = cfg.schedule_per  # when the scheduler steps: after every "step" or "epoch"
        self.last_lr = optimizer.param_groups[0]["lr"]

    # ------------------------------------------------------------------------------------------ training

    def objective(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The minimised loss J + lambda R(W) and the scores it came from."""
        scores = self.model(x)
        loss = self.loss_fn(scores, y)
        if self.penalty is not None:
            loss = loss + self.penalty(self.model)
        return loss, scores

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on one minibatch; returns the (detached) loss and scores."""
        if self.augment is not None:
            x = self.augment(x)
        if self.needs_closure:
            return self._closure_step(x, y)
        loss, scores = self.objective(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for cb in self.callbacks:
            cb.after_backward(self, self.step)
        if self.cfg.clip_grad_norm:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
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
        """Train for ``cfg.epochs`` epochs (from ``self.epoch``, so a resumed trainer continues)."""
        cfg = self.cfg
        x_train, y_train = (t.to(self.device) for t in self.splits.train)
        n = len(x_train)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        bar = _progress(cfg, total=(cfg.epochs - self.epoch) * self.steps_per_epoch)
        try:
            while self.epoch < cfg.epochs and self.stop_reason is None:
                start = time.perf_counter()
                self.model.train()
                order = torch.randperm(n, generator=self.generator).to(self.device)
                total_loss = torch.zeros((), device=self.device)
                correct = torch.zeros((), dtype=torch.long, device=self.device)
                for i in range(0, n, self.batch_size):
                    idx = order[i: i + self.batch_size]
                    xb, yb = x_train[idx], y_train[idx]
                    loss, scores = self.train_step(xb, yb)
                    self.last_lr = self.optimizer.param_groups[0]["lr"]  # the rate this step used
                    total_loss += loss * len(idx)
                    correct += (scores.argmax(1) == yb).sum()
                    if self.scheduler is not None and self.schedule_per == "step":
                        self.scheduler.step()
                    loss_value = float(loss)
                    self.iter_losses.append(loss_value)
                    for cb in self.callbacks:
                        cb.on_batch_end(self, self.step, loss_value)
                    self.step += 1
                    if bar is not None:
                        bar.update(1)
                    if not math.isfinite(loss_value):
                        raise StopTraining(f"loss became {loss_value} at step {self.step}: "
                                           f"the learning rate is probably too large")
                record = self._end_of_epoch(float(total_loss) / n, int(correct) / n, start)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, self.epoch - 1, record)
                if bar is not None:
                    bar.set_postfix(loss=f"{record['train_loss']:.3f}", val=f"{record['val_accuracy']:.3f}")
                if self.on_epoch_checkpoint is not None:
                    self.on_epoch_checkpoint(self)
        except StopTraining as stop:
            self.stop_reason = str(stop)
        finally:
            if bar is not None:
                bar.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _end_of_epoch(self, train_loss: float, train_accuracy: float, start: float) -> dict[str, Any]:
        val_loss, val_accuracy = self.evaluate(*self.splits.val) if len(self.splits.val[0]) else (math.nan, 0.0)
        lr = self.last_lr
        if self.scheduler is not None and self.schedule_per == "epoch":
            self.scheduler.step()
        if self.plateau is not None and math.isfinite(val_loss):
            self.plateau.step(val_loss)
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
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
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
            "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in self.callbacks],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau is not None and state["plateau"] is not None:
            self.plateau.load_state_dict(state["plateau"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.iter_losses = state["iter_losses"].tolist()
        self.history = list(state["history"])
        self.best_state = state["best_state"]
        self.best_val_accuracy = float(state["best_val_accuracy"])
        self.best_epoch = int(state["best_epoch"])
        self.train_seconds = float(state["train_seconds"])
        for cb, cb_state in zip(self.callbacks, state.get("callbacks") or []):
            if cb_state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(cb_state)


def _progress(cfg: TrainConfig, total: int) -> Any:
    """A tqdm bar on long work at a terminal (or when asked); None otherwise or without tqdm."""
    show = cfg.progress if cfg.progress is not None else sys.stderr.isatty()
    if not show or total <= 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="step", leave=False, dynamic_ncols=True)
