"""Harness overhead: the same model, optimizer and batches through descent's Trainer vs a plain hand-written
PyTorch loop, interleaved in one process. Target: median ratio Trainer / loop <= 1.05.

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
from descent.models import build_model
from descent.optim import registry
from descent.train import TrainConfig, Trainer


def hand_loop(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              batch_size: int, epochs: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = perm[i: i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--optimizer", default="adam")
    args = ap.parse_args()
    cfg = TrainConfig(epochs=args.epochs, optimizer=args.optimizer, monitor=False, progress=False)
    splits = data.load(cfg.data, seed=cfg.seed)
    # the trainer evaluates the validation split each epoch; the loop must do the same work to be comparable
    x, y = splits.train

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = build_model(cfg, splits)
        return model, registry.build(cfg.optimizer, model.parameters())

    loop_times, trainer_times = [], []
    for _ in range(args.repeats):
        model, opt = fresh()
        t = time.perf_counter()
        hand_loop(model, opt, x, y, cfg.batch_size, cfg.epochs, cfg.seed)
        with torch.no_grad():
            model.eval()
            model(splits.val[0]).argmax(1)
        loop_times.append(time.perf_counter() - t)

        model, opt = fresh()
        trainer = Trainer(model, opt, splits, cfg)
        t = time.perf_counter()
        trainer.fit()
        trainer_times.append(time.perf_counter() - t)
    loop_med, trainer_med = statistics.median(loop_times), statistics.median(trainer_times)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    print(f"{steps} steps of {cfg.optimizer} on {splits.name}, {args.repeats} interleaved repeats, torch threads "
          f"{torch.get_num_threads()}")
    print(f"  hand-written loop   median {loop_med * 1e3:8.1f} ms")
    print(f"  descent Trainer     median {trainer_med * 1e3:8.1f} ms")
    print(f"  ratio Trainer/loop  {trainer_med / loop_med:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
