"""One run of a comparison: a workload trained with one configuration on one seed, top to bottom.

    torch.manual_seed(seed); model <- workload.build_model()       # the seed's initialization
    optimizer, batch plan (shuffled by the seed), learning-rate controller, divergence guard
    Trainer(...).fit()                                              # the same trainer as ``descent train``
    test accuracy of the best-validation weights

The data split is the workload's, fixed for every seed. Nothing is written: the run's numbers (accuracies and
the per-epoch validation curve with the seconds of each epoch, from which the time to a target follows) go
into the comparison's study. The configuration is checked by :func:`descent.train.resolve` first.

>>> from descent.comparison.workload import builtin_workload
>>> from descent.config import TrainConfig
>>> cfg = TrainConfig.of(data="spiral", model="mlp", optimizer="adam", epochs=2, threads=1)
>>> run = train_once(builtin_workload(cfg), cfg, seed=1)
>>> len(run["val_curve"]), run["steps_per_epoch"], 0.0 <= run["test_accuracy"] <= 1.0
(2, 7, True)
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .. import checks, losses
from ..config import TrainConfig
from ..regularization import penalty
from ..train import BatchPlan, Trainer, resolve
from ..train.divergence import DivergenceGuard
from ..train.ensemble import EMA
from ..train.lr import learning_rate
from ..train.threads import Threads
from .workload import STAND_IN, Workload


def check(cfg: TrainConfig, workload: Workload) -> Any:
    """``resolve(cfg)``, for the user's data through the built-in dataset of the same kind; a snapshot
    ensemble (its own model, not one run's) is refused."""
    if cfg.schedule.snapshots is not None:
        raise checks.invalid("snapshots", cfg.schedule.snapshots, "unset in descent compare: a snapshot "
                             "ensemble is several models, the comparison judges one")
    if workload.builtin:
        return resolve(cfg)
    stand_in = STAND_IN[workload.splits.kind]
    if cfg.data.augment and workload.splits.kind == "vector":
        raise checks.invalid("augment", cfg.data.augment, "unset for vector data")
    return resolve(cfg.replace(data=stand_in, data_dir=None, train_subset=None))


def train_once(workload: Workload, cfg: TrainConfig, seed: int) -> dict[str, Any]:
    """Train ``workload`` with ``cfg`` from ``seed``; the run's accuracies and per-epoch curves."""
    job = check(cfg, workload)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    torch.manual_seed(seed)
    splits = workload.splits
    model = workload.build_model().to(job.device)
    optimizer = job.build_optimizer(model.parameters())
    plan = BatchPlan.make(len(splits.train[0]), cfg.run.batch_size, cfg.run.epochs, seed,
                          full_batch=job.entry.closure)
    callbacks = [] if cfg.run.threads else [Threads()]
    callbacks += [learning_rate(cfg.schedule, job.schedule, optimizer, plan), DivergenceGuard(splits.num_classes)]
    if cfg.regularize.ema is not None:
        callbacks.append(EMA(cfg.regularize.ema))
    r = cfg.regularize
    weight_penalty = None
    if r.l1 or r.l2 or r.elastic_net:
        weight_penalty = lambda m: penalty(m, l1=r.l1, l2=r.l2, elastic_net=r.elastic_net,  # noqa: E731
                                           beta=r.elastic_beta)
    trainer = Trainer(model, optimizer, splits, plan, callbacks=callbacks, loss_fn=losses.get(cfg.run.loss),
                      penalty=weight_penalty, augment=job.augment, clip_grad_norm=r.clip_grad_norm,
                      needs_closure=job.entry.closure, device=job.device, progress=False)
    trainer.fit()
    if trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    _, test_accuracy = trainer.evaluate(*splits.test)
    history = trainer.history
    return {"val_accuracy": max(trainer.best_val_accuracy, 0.0), "test_accuracy": test_accuracy,
            "val_curve": [h["val_accuracy"] for h in history],
            "train_loss_curve": [_finite(h["train_loss"]) for h in history],
            "epoch_seconds": [h["seconds"] for h in history], "steps_per_epoch": plan.steps_per_epoch,
            "epochs_run": trainer.epoch, "diverged": trainer.diverged,
            "stop_reason": trainer.stop_reason or "",
            "num_parameters": sum(p.numel() for p in model.parameters())}


def _finite(value: float) -> float | None:
    """A curve's value, or None where it is NaN or infinite (JSON has no NaN)."""
    return value if math.isfinite(value) else None


def time_to_target(run: dict[str, Any], target: float) -> tuple[float, float]:
    """Optimizer steps and seconds until the validation accuracy first reached ``target``, checked at the end
    of each epoch; ``(inf, inf)`` when it never did."""
    seconds = 0.0
    for epoch, (accuracy, spent) in enumerate(zip(run["val_curve"], run["epoch_seconds"])):
        seconds += spent
        if accuracy >= target:
            return float((epoch + 1) * run["steps_per_epoch"]), seconds
    return math.inf, math.inf
