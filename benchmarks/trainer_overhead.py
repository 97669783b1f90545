"""Harness overhead: the same model, optimizer and batches through descent's Trainer vs a plain hand-written
PyTorch loop, interleaved in one process (each repeat runs both, alternating which goes first). Target: the
median of the per-repeat ratios Trainer / loop <= 1.05.

    python benchmarks/trainer_overhead.py [--epochs 3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from descent import data
from descent.config import TrainConfig
from descent.models import build_model
from descent.optim import registry
from descent.train import BatchPlan, LearningRate, Trainer


def hand_loop(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              val: tuple[torch.Tensor, torch.Tensor], batch_size: int, epochs: int, seed: int) -> list[float]:
    """What a careful hand-written loop does, and the Trainer too: per-iteration losses, per-epoch training
    loss and accuracy, per-epoch validation loss and accuracy."""
    g = torch.Generator().manual_seed(seed)
    losses, history = [], []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        total, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for i in range(0, len(x), batch_size):
            idx = perm[i: i + batch_size]
            scores = model(x[idx])
            loss = nn.functional.cross_entropy(scores, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            correct += (scores.detach().argmax(1) == y[idx]).sum()
            losses.append(loss.item())
        with torch.no_grad():
            model.eval()
            scores = model(val[0])
            history.append((float(total) / len(x), int(correct) / len(x),
                            float(nn.functional.cross_entropy(scores, val[1])),
                            float((scores.argmax(1) == val[1]).float().mean())))
    return losses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--optimizer", default="adam")
    args = ap.parse_args()
    cfg = TrainConfig.of(epochs=args.epochs, optimizer=args.optimizer, monitor=False, progress=False)
    splits = data.load(cfg.data.name, seed=cfg.run.seed)
    # the trainer evaluates the validation split each epoch; the loop does the same work to be comparable
    x, y = splits.train

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = build_model(cfg.model, splits)
        return model, registry.build(cfg.optimizer.name, model.parameters())

    def run_loop() -> float:
        model, opt = fresh()
        t = time.perf_counter()
        hand_loop(model, opt, x, y, splits.val, cfg.run.batch_size, cfg.run.epochs, cfg.run.seed)
        return time.perf_counter() - t

    def run_trainer() -> float:
        model, opt = fresh()
        # as `descent train` builds it: the batch plan, and the learning-rate controller every job has
        plan = BatchPlan.make(len(x), cfg.run.batch_size, cfg.run.epochs, cfg.run.seed)
        trainer = Trainer(model, opt, splits, plan, callbacks=[LearningRate(opt)])
        t = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - t

    # each repeat runs both, alternating which goes first; the ratio is the median of the per-repeat ratios
    loop_times, trainer_times = [], []
    for i in range(args.repeats):
        if i % 2:
            trainer_times.append(run_trainer())
            loop_times.append(run_loop())
        else:
            loop_times.append(run_loop())
            trainer_times.append(run_trainer())
    loop_med, trainer_med = statistics.median(loop_times), statistics.median(trainer_times)
    ratio = statistics.median(t / lo for t, lo in zip(trainer_times, loop_times, strict=True))
    steps = cfg.run.epochs * math.ceil(len(x) / cfg.run.batch_size)
    print(f"{steps} steps of {cfg.optimizer.name} on {splits.name}, {args.repeats} interleaved repeats, torch threads "
          f"{torch.get_num_threads()}")
    print(f"  hand-written loop   median {loop_med * 1e3:8.1f} ms")
    print(f"  descent Trainer     median {trainer_med * 1e3:8.1f} ms")
    print(f"  ratio Trainer/loop  {ratio:.3f}   (median of the per-repeat ratios; target <= 1.05)")


if __name__ == "__main__":
    main()
