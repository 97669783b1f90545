"""Does learning-rate decay help? Test accuracy on MNIST-1D with and without each decay, at equal epochs.

The lecture's claim: decay matters most for SGD+Momentum and less for Adam. For each optimizer (registry
defaults: momentum lr=0.05, Adam lr=3e-3) and each schedule (stepped once per epoch, so total_steps = epochs)
this trains ``--seeds`` runs and prints the median test accuracy, its range, and the median change against
the constant rate on the same seeds.

    PYTHONPATH=src python benchmarks/schedules.py                   # 20 epochs, seeds 0 1 2
    PYTHONPATH=src python benchmarks/schedules.py --epochs 5 --seeds 1   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from descent import _io
from descent.train import run_training
from descent.train.config import TrainConfig


def decays(epochs: int) -> dict[str, str]:
    """Label -> spec, each scaled to the run's length (the trainer passes total_steps = epochs)."""
    return {
        "none": "constant",
        "step": f"step:every={max(1, epochs // 3)},factor=0.3",
        "exp": f"exp:k={3 / epochs:.4g}",
        "1/t": f"invtime:k={10 / epochs:.4g}",
        "cosine": "cosine",
        "warmup+cosine": f"warmup={max(1, epochs // 10)}+cosine",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--optimizers", default="momentum,adam")
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--out", default=None, help="write results.json here (default: print only)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    specs, optimizers = decays(args.epochs), args.optimizers.split(",")
    acc: dict[tuple[str, str], list[float]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for opt in optimizers:
            for label, spec in specs.items():
                for seed in range(args.seeds):
                    cfg = TrainConfig(data=args.data, optimizer=opt, epochs=args.epochs, seed=seed,
                                      schedule=spec, schedule_per="epoch", monitor=False,
                                      checkpoint_every=0, progress=False)
                    out = Path(scratch) / f"{opt}-{label.replace('/', '_')}-{seed}"
                    metrics = run_training(cfg, out)
                    acc.setdefault((opt, label), []).append(float(metrics["test_accuracy"]))
    seconds = time.perf_counter() - started

    print(f"MNIST-1D test accuracy after {args.epochs} epochs, median of {args.seeds} seeds "
          f"[min, max]; delta = median over seeds of (decay - none) ({seconds:.0f} s in all)\n")
    header = f"| {'schedule':<14} | {'spec':<28} |" + "".join(f" {o + ' acc':<22} | {'delta':>6} |"
                                                             for o in optimizers)
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    rows = []
    for label, spec in specs.items():
        line, row = f"| {label:<14} | {spec:<28} |", {"schedule": label, "spec": spec}
        for opt in optimizers:
            a, base = acc[(opt, label)], acc[(opt, "none")]
            delta = statistics.median(x - b for x, b in zip(a, base, strict=True))
            line += f" {statistics.median(a):.4f} [{min(a):.3f}, {max(a):.3f}] | {delta:+.4f} |"
            row |= {f"{opt}_median": statistics.median(a), f"{opt}_all": a, f"{opt}_delta": delta}
        print(line)
        rows.append(row)
    if args.out:
        _io.ensure_dir(args.out)
        _io.write_json(Path(args.out) / "results.json",
                       {"epochs": args.epochs, "seeds": args.seeds, "data": args.data, "rows": rows,
                        "seconds": seconds})


if __name__ == "__main__":
    main()
