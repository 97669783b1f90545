"""One whole training job, as ``descent train`` runs it: data, model, optimizer, schedule, fit, test, outputs.

Outputs in ``out_dir`` (each written atomically): ``metrics.json`` (test_accuracy, val_accuracy,
train_seconds, the full config, ...), ``history.csv`` (one row per epoch), ``losses.csv`` (one row per
iteration), ``curves.png`` (loss and train/val accuracy) and ``checkpoint.pt`` (resumable).
"""

from __future__ import annotations

import inspect
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data as data_module
from .. import losses, schedules
from .._io import ensure_dir, save_figure, write_csv, write_json
from ..errors import DescentError
from ..models import build_model
from ..optim import registry
from ..regularization import penalty
from . import checkpoint
from .callbacks import Callback
from .config import TrainConfig
from .ensemble import EMA, Snapshots, snapshot_cycle_end_steps, snapshot_cycle_epochs
from .trainer import Trainer


def validate(cfg: TrainConfig) -> None:
    """Reject impossible settings before any work is done, naming the value."""
    if cfg.epochs <= 0:
        raise ValueError(f"epochs must be positive, got {cfg.epochs!r}")
    if cfg.batch_size is not None and cfg.batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {cfg.batch_size!r}")
    if cfg.lr is not None and not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ValueError(f"learning rate must be positive, got {cfg.lr!r}")
    for name in ("l1", "l2", "elastic_net"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(cfg, name)!r}")
    if cfg.schedule_per not in ("step", "epoch"):
        raise ValueError(f"schedule_per must be 'step' or 'epoch', got {cfg.schedule_per!r}")
    if cfg.plateau and (cfg.schedule or cfg.snapshots):
        raise ValueError("--plateau cannot be combined with --schedule or --snapshots: both set the lr")
    if cfg.snapshots is not None:
        if cfg.schedule:
            raise ValueError("--snapshots sets its own cosine-restart schedule; drop --schedule")
        snapshot_cycle_epochs(cfg.epochs, cfg.snapshots)  # 2 <= K <= epochs
    if cfg.ema is not None and not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"ema decay must be in [0, 1), got {cfg.ema!r}")
    registry.get(cfg.optimizer)
    if cfg.schedule:
        schedules.parse(cfg.schedule, 1.0, 10**6)  # a bad spelling fails before any data is loaded


def build_optimizer(cfg: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The registry's optimizer with the config's hyperparameters; an unsupported one is named."""
    entry = registry.get(cfg.optimizer)
    hyper = {"momentum": cfg.momentum, "weight_decay": cfg.weight_decay, **cfg.hyper}
    hyper = {k: v for k, v in hyper.items() if v is not None}
    accepted = inspect.signature(entry.factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        for key in hyper:
            if key not in accepted:
                raise ValueError(f"optimizer {entry.name!r} has no hyperparameter {key!r}")
    return registry.build(cfg.optimizer, params, lr=cfg.lr, **hyper)


def _penalty(cfg: TrainConfig) -> Callable[[nn.Module], torch.Tensor] | None:
    if not (cfg.l1 or cfg.l2 or cfg.elastic_net):
        return None
    return lambda model: penalty(model, l1=cfg.l1, l2=cfg.l2, elastic_net=cfg.elastic_net, beta=cfg.elastic_beta)


def _augment(cfg: TrainConfig, splits: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if not cfg.augment:
        return None
    from ..augment import parse

    return parse(cfg.augment, splits.kind).to(cfg.device)


def _snapshot_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    """Snapshot ensembles (Huang et al., 2017): K cosine cycles over the epoch budget, each ending at an epoch
    boundary where the rate is lowest, stepped per optimizer step; a snapshot is taken at each cycle's end."""
    base = optimizer.param_groups[0]["lr"]
    lengths = [e * steps_per_epoch for e in snapshot_cycle_epochs(cfg.epochs, cfg.snapshots)]
    cycles = schedules.join([schedules.cosine_decay(base, n) for n in lengths],
                            [sum(lengths[: i + 1]) for i in range(len(lengths) - 1)])
    return schedules.LRSchedule(optimizer, cycles)


def _scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    if not cfg.schedule:
        return None
    total = cfg.epochs * (steps_per_epoch if cfg.schedule_per == "step" else 1)
    fn = schedules.parse(cfg.schedule, optimizer.param_groups[0]["lr"], total)
    return schedules.LRSchedule(optimizer, fn)


def run_training(
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    callbacks: Iterable[Callback] = (),
    resume: bool = False,
) -> dict[str, Any]:
    """Run (or resume) one training job and write its outputs; returns the metrics."""
    wall_start = time.perf_counter()
    validate(cfg)
    out = ensure_dir(out_dir)
    ckpt_path = out / "checkpoint.pt"
    saved = None
    if resume:
        saved = checkpoint.load(ckpt_path)
        epochs = cfg.epochs
        cfg = TrainConfig.from_dict(saved["config"])
        cfg.epochs = max(epochs, cfg.epochs)

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    splits = data_module.load(cfg.data, cfg.data_dir, seed=cfg.seed, val_fraction=cfg.val_fraction,
                              standardize=cfg.standardize, train_subset=cfg.train_subset)
    model = build_model(cfg, splits).to(cfg.device)
    optimizer = build_optimizer(cfg, model.parameters())
    entry = registry.get(cfg.optimizer)
    callbacks = list(callbacks) + _default_callbacks(cfg, out)
    trainer = Trainer(model, optimizer, splits, cfg, callbacks=callbacks, loss_fn=losses.get(cfg.loss),
                      penalty=_penalty(cfg), augment=_augment(cfg, splits), needs_closure=entry.closure)
    snapshots = None
    if cfg.snapshots is not None:
        trainer.scheduler = _snapshot_schedule(cfg, optimizer, trainer.steps_per_epoch)
        trainer.schedule_per = "step"
        snapshots = Snapshots(cfg.snapshots,
                              snapshot_cycle_end_steps(cfg.epochs, cfg.snapshots, trainer.steps_per_epoch))
        trainer.callbacks.append(snapshots)
    else:
        trainer.scheduler = _scheduler(cfg, optimizer, trainer.steps_per_epoch)
    if cfg.ema is not None:
        trainer.callbacks.append(EMA(cfg.ema))
    if cfg.plateau:
        trainer.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=cfg.plateau_factor, patience=cfg.plateau_patience)
    if saved is not None:
        trainer.load_state_dict(saved["trainer"])
    if cfg.checkpoint_every:
        def save_checkpoint(t: Trainer) -> None:
            if t.epoch % cfg.checkpoint_every == 0 or t.epoch == cfg.epochs:
                checkpoint.save(ckpt_path, cfg.to_dict(), t.state_dict())
        trainer.on_epoch_checkpoint = save_checkpoint

    trainer.fit()
    if cfg.checkpoint_every and trainer.stop_reason is not None:
        checkpoint.save(ckpt_path, cfg.to_dict(), trainer.state_dict())
    metrics = _metrics(trainer, cfg, splits)
    if snapshots is not None and snapshots.state_dicts:
        # the snapshot ensemble is the run's model: its accuracy is the run's test accuracy
        summary = snapshots.summary()
        metrics["best_val_test_accuracy"] = metrics["test_accuracy"]
        metrics["test_accuracy"] = summary["ensemble_test_accuracy"]
        metrics["single_test_accuracy"] = summary["last_snapshot_test_accuracy"]
    metrics["wall_seconds"] = time.perf_counter() - wall_start
    write_outputs(out, trainer, metrics)
    from ..lab.report import write_run_report

    write_run_report(out)
    return metrics


def _default_callbacks(cfg: TrainConfig, out: Path) -> list[Callback]:
    if not cfg.monitor:
        return []
    from .monitor import Monitor

    return [Monitor(tensorboard=cfg.tensorboard, log_dir=str(out / "tensorboard"))]


def _metrics(trainer: Trainer, cfg: TrainConfig, splits: Any) -> dict[str, Any]:
    final_test_loss, final_test_accuracy = trainer.evaluate(*splits.test)
    if trainer.best_state is not None:
        trainer.model.load_state_dict(trainer.best_state)
    test_loss, test_accuracy = trainer.evaluate(*splits.test)
    last = trainer.history[-1] if trainer.history else {}
    metrics: dict[str, Any] = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "val_accuracy": trainer.best_val_accuracy,
        "best_epoch": trainer.best_epoch,
        "final_test_accuracy": final_test_accuracy,
        "final_test_loss": final_test_loss,
        "final_train_loss": last.get("train_loss"),
        "final_train_accuracy": last.get("train_accuracy"),
        "final_val_accuracy": last.get("val_accuracy"),
        "epochs_run": trainer.epoch,
        "steps": trainer.step,
        "train_seconds": trainer.train_seconds,
        "stop_reason": trainer.stop_reason,
        "num_parameters": sum(p.numel() for p in trainer.model.parameters()),
        "data": {"name": splits.name, "train": len(splits.train[0]), "val": len(splits.val[0]),
                 "test": len(splits.test[0]), "num_classes": splits.num_classes, "kind": splits.kind},
        "config": cfg.to_dict(),
    }
    for cb in trainer.callbacks:
        summary = cb.summary()
        if summary:
            metrics[getattr(cb, "name", type(cb).__name__.lower())] = summary
    return metrics


def write_outputs(out: Path, trainer: Trainer, metrics: dict[str, Any]) -> None:
    write_json(out / "metrics.json", metrics)
    write_csv(out / "history.csv", trainer.history,
              ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"])
    write_csv(out / "losses.csv", [{"step": i, "loss": v} for i, v in enumerate(trainer.iter_losses)])
    plot_curves(trainer.iter_losses, trainer.history, out / "curves.png",
                title=f"{metrics['config']['optimizer']} on {metrics['data']['name']}")


def plot_curves(iter_losses: list[float], history: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Loss per iteration (with the per-epoch validation loss) and train/val accuracy per epoch."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DescentError("drawing curves.png needs matplotlib: pip install 'descent[plot]'") from None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    if iter_losses:
        ax_loss.plot(range(len(iter_losses)), iter_losses, lw=0.6, alpha=0.6, label="train (per iteration)")
    if history:
        steps_per_epoch = max(len(iter_losses) // max(len(history), 1), 1)
        xs = [(r["epoch"] + 1) * steps_per_epoch for r in history]
        ax_loss.plot(xs, [r["val_loss"] for r in history], "o-", ms=3, label="validation")
        epochs = [r["epoch"] + 1 for r in history]
        ax_acc.plot(epochs, [r["train_accuracy"] for r in history], "o-", ms=3, label="train")
        ax_acc.plot(epochs, [r["val_accuracy"] for r in history], "s-", ms=3, label="validation")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="loss")
    finite = [v for v in iter_losses if math.isfinite(v)]
    if finite and max(finite) / max(min(finite), 1e-12) > 50:
        ax_loss.set_yscale("log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
