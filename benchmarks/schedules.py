"""Does learning-rate decay help? Test accuracy on MNIST-1D with and without each decay, at equal epochs.

The lecture's claim: decay matters most for SGD+Momentum and less for Adam. For each optimizer (registry
defaults: momentum lr=0.05, Adam lr=3e-3) and each schedule (stepped once per epoch, so total_steps = epochs)
this trains ``--seeds`` runs and prints the median test accuracy and, in brackets, the median change against
the constant rate on the same seeds, both for the best-validation weights the trainer keeps (its
``test_accuracy``) and for the final weights (``final_test_accuracy``), where a decay's effect shows directly.

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
from descent.config import TrainConfig
from descent.train import run_training


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
    ap.add_argument("--decays", default="none,step,exp,1/t,cosine",
                    help="labels from: " + ", ".join(decays(20)))
    ap.add_argument("--data", default="mnist1d")
    ap.add_argument("--out", default=None, help="write results.json here (default: print only)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    every = decays(args.epochs)
    specs = {label: every[label] for label in ["none", *args.decays.split(",")]}
    optimizers = args.optimizers.split(",")
    results: dict[tuple[str, str], list[dict]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for opt in optimizers:
            for label, spec in specs.items():
                for seed in range(args.seeds):
                    cfg = TrainConfig.of(data=args.data, optimizer=opt, epochs=args.epochs, seed=seed,
                                      schedule=spec, schedule_per="epoch", monitor=False,
                                      checkpoint_every=0, progress=False)
                    out = Path(scratch) / f"{opt}-{label.replace('/', '_')}-{seed}"
                    m = run_training(cfg, out)
                    results.setdefault((opt, label), []).append(
                        {"best": float(m["test_accuracy"]), "final": float(m["final_test_accuracy"])})
                    print(f"  {opt:<9} {label:<14} seed {seed}: test acc {m['test_accuracy']:.4f} (best-val "
                          f"weights), {m['final_test_accuracy']:.4f} (final weights)", flush=True)
    seconds = time.perf_counter() - started

    print(f"\n{args.data} test accuracy after {args.epochs} epochs, median of {args.seeds} seed(s); "
          f"delta = median over seeds of (decay - none); schedule stepped per epoch; {seconds:.0f} s in all\n")
    columns = [f"{opt} {kind}" for opt in optimizers for kind in ("best-val", "final")]
    print("| schedule | spec | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    rows = []
    for label, spec in specs.items():
        cells, row = [], {"schedule": label, "spec": spec}
        for opt in optimizers:
            for kind in ("best", "final"):
                acc = [r[kind] for r in results[(opt, label)]]
                base = [r[kind] for r in results[(opt, "none")]]
                delta = statistics.median(a - b for a, b in zip(acc, base, strict=True))
                cells.append(f"{statistics.median(acc):.3f} ({delta:+.3f})" if label != "none"
                             else f"{statistics.median(acc):.3f}")
                row[f"{opt}_{kind}"] = acc
        print(f"| {label} | `{spec}` | " + " | ".join(cells) + " |")
        rows.append(row)
    if args.out:
        _io.ensure_dir(args.out)
        _io.write_json(Path(args.out) / "results.json",
                       {"epochs": args.epochs, "seeds": args.seeds, "data": args.data, "rows": rows,
                        "seconds": seconds})


if __name__ == "__main__":
    main()
