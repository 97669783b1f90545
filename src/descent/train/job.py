"""One whole training job, as ``descent train`` runs it, top to bottom:

    config  --resolve-->  Job (every value checked; the registry entry, schedule, augmentation, device)
            --build-->    data splits, model, optimizer, batch plan, callbacks, Trainer
            --fit-->      history, best-validation weights, checkpoints
            --write-->    metrics.json, history.csv, losses.csv, curves.png, report.html

Outputs in ``out_dir`` (each written atomically): ``metrics.json`` (test_accuracy of the best-validation
weights, val_accuracy, train_seconds, the full config, ...), ``history.csv`` (one row per epoch),
``losses.csv`` (one row per iteration), ``curves.png``, ``report.html``, ``checkpoint.pt`` (resumable),
``weights.pt`` (the weights of every epoch, for ``descent lab landscape``) and, with ``--sharpness-every K``,
``sharpness.csv`` (the top Hessian eigenvalue every K steps).

On resume the checkpoint's configuration is the run's: a requested configuration may differ from it only in
``epochs`` (to extend the run), ``progress`` and ``threads``; anything else is refused by name.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data as data_module
from .. import losses
from .._io import ensure_dir, write_csv, write_json
from ..config import TrainConfig
from ..errors import DescentError
from ..models import build_model
from ..regularization import penalty
from ..report import plot_curves, write_run_report
from . import checkpoint
from .callbacks import Callback, Checkpointing
from .distributed import Parallel, world_config
from .divergence import DivergenceGuard
from .ensemble import EMA, Snapshots, snapshot_cycle_end_steps
from .lr import learning_rate
from .monitor import Monitor
from .plan import BatchPlan
from .resolve import Job, check_model_fits, resolve
from .sharpness import Sharpness
from .threads import Threads
from .trainer import Trainer
from .weights import EpochWeights

# what a resumed run may change: its length (longer only) and how it is shown or threaded
RESUMABLE = ("epochs", "progress", "threads")


def run_training(cfg: TrainConfig | None, out_dir: str | os.PathLike, callbacks: Iterable[Callback] = (),
                 resume: bool = False, parallel: Parallel | None = None) -> dict[str, Any]:
    """Run (or, with ``resume``, continue) one training job and write its outputs; returns the metrics.

    ``cfg=None`` with ``resume`` continues the run exactly as its checkpoint describes it. ``parallel``: this
    process is one rank of a data-parallel run (train/distributed.py); rank 0 alone writes the outputs.

    >>> import os, tempfile
    >>> from descent.config import TrainConfig
    >>> out = tempfile.mkdtemp()
    >>> metrics = run_training(TrainConfig.of(data="spiral", model="mlp", epochs=2, threads=1), out)
    >>> metrics["epochs_run"], 0.0 < metrics["test_accuracy"] <= 1.0, sorted(os.listdir(out))[:3]
    (2, True, ['checkpoint.pt', 'curves.png', 'history.csv'])
    >>> run_training(None, out, resume=True)["epochs_run"]  # nothing left to do: the run had 2 epochs
    2
    """
    wall_start = time.perf_counter()
    if str(out_dir) == "":  # Path('') is '.', the current folder
        raise ValueError("invalid out='': must name a folder (use '.' for the current one)")
    out = Path(out_dir)
    saved = None
    if resume:
        saved = checkpoint.load(out / "checkpoint.pt")
        cfg = continued(TrainConfig.from_dict(saved["config"]), cfg)
    elif cfg is None:
        raise ValueError("invalid cfg=None: must be a TrainConfig unless resuming")
    cfg = world_config(cfg, parallel, resume)
    main = parallel is None or parallel.is_main
    job = resolve(cfg)
    created = not out.exists()
    out = ensure_dir(out) if main else out
    try:
        trainer, extra = build(job, out, callbacks, parallel)
        if saved is not None:
            trainer.load_state_dict(saved["trainer"])
    except BaseException:
        if created and main:  # a failed start (bad data files, a model too big for memory...) leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    trainer.fit()
    metrics = _metrics(trainer, cfg, extra)
    metrics["wall_seconds"] = time.perf_counter() - wall_start
    metrics["world_size"] = cfg.run.world_size
    if main:
        write_outputs(out, trainer, metrics)
        write_run_report(out)
    return metrics


def continued(saved: TrainConfig, requested: TrainConfig | None) -> TrainConfig:
    """The configuration of a resumed run: the checkpoint's, with a longer ``epochs`` if requested."""
    if requested is None:
        return saved
    before, after = saved.flat(), requested.flat()
    for name in sorted(before.keys() | after.keys()):
        if name not in RESUMABLE and before.get(name) != after.get(name):
            raise DescentError(f"--resume: --{name.replace('_', '-')} {after.get(name)!r} contradicts the "
                               f"checkpoint's {name}={before.get(name)!r}; drop the flag, or start a new run "
                               "in another folder")
    if requested.run.epochs < saved.run.epochs:
        raise DescentError(f"--resume: --epochs {requested.run.epochs} is shorter than the checkpoint's "
                           f"epochs={saved.run.epochs}; --epochs may only extend a run")
    return saved.replace(**{name: requested.get(name) for name in RESUMABLE})


def build(job: Job, out: Path, callbacks: Iterable[Callback] = (),
          parallel: Parallel | None = None) -> tuple[Trainer, dict[str, Any]]:
    """Data, model, optimizer, plan and callbacks of a resolved job, and the Trainer built whole."""
    cfg = job.config
    main = parallel is None or parallel.is_main  # the rank that writes files
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    governor = [] if cfg.run.threads else [Threads()]  # first: it times whole steps, callbacks included
    torch.manual_seed(cfg.run.seed)
    d = cfg.data
    splits = data_module.load(d.name, d.data_dir, seed=cfg.run.seed, val_fraction=d.val_fraction,
                              standardize=d.standardize, train_subset=d.train_subset)
    check_model_fits(cfg, splits, job.device)  # before allocating: a too-wide model is refused by name
    if job.augment is not None:
        job.augment.check_input(splits.input_shape)  # a crop or shift as large as the examples
    device = job.device if parallel is None else parallel.device
    model = build_model(cfg.model, splits).to(device)
    if parallel is not None and cfg.run.sync_batchnorm:  # before the optimizer takes the parameters
        model = parallel.sync_batchnorm(model)
    optimizer = job.build_optimizer(model.parameters())
    plan = BatchPlan.make(len(splits.train[0]), cfg.run.batch_size, cfg.run.epochs, cfg.run.seed,
                          full_batch=job.entry.closure)
    if parallel is not None:
        parallel.check(plan, job.entry.closure, cfg.optimizer.name, {"--sharpness-every": cfg.run.sharpness_every})
    lr = learning_rate(cfg.schedule, job.schedule, optimizer, plan)
    standard: list[Callback] = []
    if cfg.run.monitor:  # before the guard, so that its diagnosis of a diverging run is recorded
        standard.append(Monitor(tensorboard=cfg.run.tensorboard and main, log_dir=str(out / "tensorboard"),
                                loss=cfg.run.loss))
    standard.append(DivergenceGuard(splits.num_classes))
    if cfg.run.sharpness_every:
        standard.append(Sharpness(cfg.run.sharpness_every, out / "sharpness.csv"))
    if main:
        standard.append(EpochWeights(out / "weights.pt"))  # after the guard: diverged weights are never kept
    snapshots = None
    if cfg.schedule.snapshots is not None:
        k = cfg.schedule.snapshots
        snapshots = Snapshots(k, snapshot_cycle_end_steps(plan.epochs, k, plan.steps_per_epoch))
        standard.append(snapshots)
    if cfg.regularize.ema is not None:
        standard.append(EMA(cfg.regularize.ema))
    if cfg.run.checkpoint_every and main:
        standard.append(Checkpointing(out / "checkpoint.pt", cfg.to_dict(), cfg.run.checkpoint_every))
    trainer = Trainer(model, optimizer, splits, plan, callbacks=[*governor, lr, *callbacks, *standard],
                      loss_fn=losses.get(cfg.run.loss), penalty=_penalty(cfg), augment=job.augment,
                      clip_grad_norm=cfg.regularize.clip_grad_norm, needs_closure=job.entry.closure,
                      device=device, progress=cfg.run.progress if main else False, parallel=parallel)
    return trainer, {"snapshots": snapshots}


def _penalty(cfg: TrainConfig) -> Callable[[nn.Module], torch.Tensor] | None:
    r = cfg.regularize
    if not (r.l1 or r.l2 or r.elastic_net):
        return None
    return lambda model: penalty(model, l1=r.l1, l2=r.l2, elastic_net=r.elastic_net, beta=r.elastic_beta)


def _metrics(trainer: Trainer, cfg: TrainConfig, extra: dict[str, Any]) -> dict[str, Any]:
    splits = trainer.splits
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
        "diverged": trainer.diverged,
        "num_parameters": sum(p.numel() for p in trainer.model.parameters()),
        "data": {"name": splits.name, "train": len(splits.train[0]), "val": len(splits.val[0]),
                 "test": len(splits.test[0]), "num_classes": splits.num_classes, "kind": splits.kind},
        "config": cfg.to_dict(),
    }
    for cb in trainer.callbacks:
        summary = cb.summary()
        if summary:
            metrics[cb.name] = summary
    snapshots = extra.get("snapshots")
    if snapshots is not None and snapshots.state_dicts:
        # the snapshot ensemble is the run's model: its accuracy is the run's test accuracy
        summary = snapshots.summary()
        metrics["best_val_test_accuracy"] = metrics["test_accuracy"]
        metrics["test_accuracy"] = summary["ensemble_test_accuracy"]
        metrics["single_test_accuracy"] = summary["last_snapshot_test_accuracy"]
    return metrics


def write_outputs(out: Path, trainer: Trainer, metrics: dict[str, Any]) -> None:
    """Write a run's ``metrics.json``, ``history.csv`` (per epoch), ``losses.csv`` (per step) and ``curves.png``
    into ``out``."""
    write_json(out / "metrics.json", metrics)
    write_csv(out / "history.csv", trainer.history,
              ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"])
    write_csv(out / "losses.csv", [{"step": i, "loss": v} for i, v in enumerate(trainer.iter_losses)])
    plot_curves(trainer.iter_losses, trainer.history, out / "curves.png",
                title=f"{metrics['config']['optimizer']['name']} on {metrics['data']['name']}")
