"""Random search against grid search at an equal budget on MNIST-1D (Bergstra & Bengio 2012, the lecture's
picture): 9 trials each over two hyperparameters, of which only the learning rate matters much.

A 3 x 3 grid tries 3 learning rates; 9 random trials try 9. Each repeat uses a new data/init seed and a new
sampler seed; the script prints, per repeat and as medians, the best validation accuracy of each method and
the number of distinct learning rates it tried. About 3 minutes on 2 cores (a small 1-D CNN trained with
SGD for 3 epochs per trial, one torch thread).

    PYTHONPATH=src python benchmarks/search.py [--repeats 4] [--trials 9] [--epochs 3] [--space SPEC]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from descent.config import TrainConfig
from descent.search import parse_space, run_search
from descent.train import run_training

# the learning rate (four decades) decides almost everything; a little weight decay barely matters in 3 epochs
SPACE = "lr=1e-4:1e0:log,weight_decay=1e-6:1e-3:log"


def best_of(method: str, base: TrainConfig, space: str, trials: int, seed: int, root: Path) -> tuple[float, int]:
    out = root / f"{method}-{seed}"

    def objective(params, label):
        metrics = run_training(base.replace(**params), out / "trials" / label)
        return float(metrics["val_accuracy"])

    rows = run_search(objective, parse_space(space), out, trials, method=method, seed=seed)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    return max(r["value"] for r in done), len({round(r["lr"], 12) for r in done})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--space", default=SPACE, help="search space (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results: dict[str, list[tuple[float, int]]] = {"random": [], "grid": []}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.repeats):
            base = TrainConfig.of(data="mnist1d", model="cnn", width=32, optimizer="sgd", epochs=args.epochs,
                               seed=seed, batch_size=128, monitor=False, checkpoint_every=0, progress=False,
                               threads=1)
            for method in results:
                results[method].append(best_of(method, base, args.space, args.trials, seed, Path(tmp)))
                acc, distinct = results[method][-1]
                print(f"seed {seed}  {method:<6}  best val acc {acc:.3f}  ({distinct} distinct learning rates)",
                      flush=True)
    print(f"\n{args.trials} trials each, {args.repeats} repeats, space {args.space}, CNN + SGD, {args.epochs} epochs")
    for method, rs in results.items():
        med = statistics.median(a for a, _ in rs)
        print(f"{method:<6}  median best val acc {med:.3f}   distinct lr per search {rs[0][1]}")
    diff = [r[0] - g[0] for r, g in zip(results["random"], results["grid"], strict=True)]
    print(f"random - grid: median {statistics.median(diff):+.3f}, per repeat "
          + " ".join(f"{d:+.3f}" for d in diff))
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
