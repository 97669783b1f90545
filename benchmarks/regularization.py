"""Regularization, ensembles and init scale, measured on MNIST-1D with descent's own trainer.

(1) Overfitting: a 500-example training subset and a large MLP (2 x 512). Train accuracy (evaluation mode,
    final weights) minus test accuracy, without regularization and with L2, dropout, DropConnect and data
    augmentation; mean over seeds.
(2) Ensembles: a snapshot ensemble (K cosine cycles, ``TrainConfig.snapshots=K``) against its own last
    snapshot, at equal training epochs; and N independently trained models against one of them.
(3) Weight-init scale: test accuracy after a short training of a deep tanh MLP for W ~ N(0, std^2) over a
    range of std, with and without batch norm (a plot).

    PYTHONPATH=src python benchmarks/regularization.py            # ~4-5 minutes on 1 CPU core
    PYTHONPATH=src python benchmarks/regularization.py --quick    # a smoke run, numbers meaningless

Prints the tables docs/regularization.md quotes and writes ``--out``/regularization.json and init_sweep.png.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from descent._io import ensure_dir, save_figure, write_json
from descent.config import TrainConfig
from descent.train import Callback, run_training
from descent.train.ensemble import Snapshots, ensemble_accuracy, snapshot_cycle_end_steps


class FinalTrainAccuracy(Callback):
    """Accuracy on the whole training split with the final weights, in evaluation mode (no dropout/augment)."""

    def on_train_end(self, trainer) -> None:
        self.accuracy = trainer.evaluate(*trainer.splits.train)[1]


class KeepModel(Callback):
    """Keep the final model and the test split, for ensembles built after training."""

    def on_train_end(self, trainer) -> None:
        self.model = trainer.model
        self.test = trainer.splits.test


def train(cfg: TrainConfig, callbacks=()) -> dict:
    with tempfile.TemporaryDirectory() as out:
        return run_training(cfg, out, callbacks=list(callbacks))


def overfitting(epochs: int, seeds: tuple[int, ...]) -> list[dict]:
    base = TrainConfig.of(data="mnist1d", train_subset=500, model="mlp", width=512, depth=2, epochs=epochs,
                       checkpoint_every=0, monitor=False, progress=False, threads=1)
    methods = [("none", {}), ("L2 (lambda=1e-2)", {"l2": 1e-2}), ("dropout (p=0.5)", {"dropout": 0.5}),
               ("DropConnect (p=0.5)", {"dropconnect": 0.5}), ("augment (default)", {"augment": "default"})]
    rows = []
    for name, change in methods:
        train_acc, test_acc = [], []
        for seed in seeds:
            probe = FinalTrainAccuracy()
            metrics = train(base.replace(seed=seed, **change), [probe])
            train_acc.append(probe.accuracy)
            test_acc.append(metrics["final_test_accuracy"])
        rows.append({"method": name, "train_accuracy": statistics.mean(train_acc),
                     "test_accuracy": statistics.mean(test_acc),
                     "gap": statistics.mean(a - b for a, b in zip(train_acc, test_acc, strict=True)),
                     "per_seed_test_accuracy": test_acc})
    print(f"\n(1) overfitting: MNIST-1D, 500 training examples, MLP 2 x 512, Adam, {epochs} epochs, "
          f"mean of seeds {list(seeds)}")
    print(f"{'method':<22}{'train acc':>10}{'test acc':>10}{'gap':>8}{'gap vs none':>13}")
    for r in rows:
        print(f"{r['method']:<22}{r['train_accuracy']:>10.3f}{r['test_accuracy']:>10.3f}{r['gap']:>8.3f}"
              f"{r['gap'] - rows[0]['gap']:>+13.3f}")
    return rows


def ensembles(epochs: int, k: int, seeds: tuple[int, ...], n_independent: int) -> dict:
    base = TrainConfig.of(data="mnist1d", model="mlp", lr=0.02, epochs=epochs, checkpoint_every=0, monitor=False,
                       progress=False, threads=1)
    steps_per_epoch = -(-3600 // base.run.batch_size)  # 4000 MNIST-1D training signals, 10% for validation
    snapshot_runs = []
    for seed in seeds:
        snapshots = Snapshots(k, snapshot_cycle_end_steps(epochs, k, steps_per_epoch))
        metrics = train(base.replace(seed=seed, snapshots=k), [snapshots])
        if metrics["steps"] != steps_per_epoch * epochs:
            raise RuntimeError(f"expected {steps_per_epoch * epochs} steps, the trainer made {metrics['steps']}")
        snapshot_runs.append(snapshots.summary())
    cycle = epochs // k
    kept = []
    for seed in range(100, 100 + n_independent):
        keep = KeepModel()
        train(base.replace(seed=seed, epochs=cycle, schedule="cosine"), [keep])
        kept.append(keep)
    x, y = kept[0].test
    singles = [ensemble_accuracy([m.model], x, y) for m in kept]
    independent = {"members": singles, "mean_member": statistics.mean(singles),
                   "ensemble": ensemble_accuracy([m.model for m in kept], x, y)}
    print(f"\n(2) ensembles: MNIST-1D, MLP 2 x 256, Adam lr 0.02; snapshot ensemble: {epochs} epochs, "
          f"K={k} cosine cycles of {cycle} epochs")
    print(f"{'seed':<6}{'last snapshot':>15}{'snapshot ensemble':>19}{'gain':>8}   members")
    for seed, s in zip(seeds, snapshot_runs, strict=True):
        gain = s["ensemble_test_accuracy"] - s["last_snapshot_test_accuracy"]
        members = " ".join(f"{a:.3f}" for a in s["member_test_accuracies"])
        print(f"{seed:<6}{s['last_snapshot_test_accuracy']:>15.3f}{s['ensemble_test_accuracy']:>19.3f}"
              f"{gain:>+8.3f}   {members}")
    mean_gain = statistics.mean(s["ensemble_test_accuracy"] - s["last_snapshot_test_accuracy"]
                                for s in snapshot_runs)
    print(f"mean gain of the snapshot ensemble over its last snapshot: {100 * mean_gain:+.1f} points")
    print(f"{n_independent} independent models ({cycle} epochs, one cosine cycle each): members "
          + " ".join(f"{a:.3f}" for a in singles)
          + f"; mean single {independent['mean_member']:.3f}, ensemble {independent['ensemble']:.3f} "
          f"({100 * (independent['ensemble'] - independent['mean_member']):+.1f} points)")
    return {"snapshot_runs": snapshot_runs, "snapshot_mean_gain": mean_gain, "independent": independent,
            "epochs": epochs, "k": k}


def init_sweep(epochs: int, stds: list[float]) -> list[dict]:
    base = TrainConfig.of(data="mnist1d", model="mlp", width=256, depth=6, activation="tanh", optimizer="momentum",
                       epochs=epochs, checkpoint_every=0, monitor=False, progress=False, threads=1)
    rows = []
    for batchnorm in (False, True):
        for init, std in [("xavier", None)] + [("normal", s) for s in stds]:
            cfg = base.replace(batchnorm=batchnorm, init=init, init_std=std or base.model.init_std)
            metrics = train(cfg)
            rows.append({"batchnorm": batchnorm, "init": init, "std": std,
                         "test_accuracy": metrics["final_test_accuracy"],
                         "stop_reason": metrics["stop_reason"]})
    print(f"\n(3) init scale: MNIST-1D, tanh MLP 6 x 256, SGD+momentum, {epochs} epochs; final test accuracy")
    print(f"{'init':<14}{'no BN':>8}{'BN':>8}")
    for plain, bn in zip(rows[: len(rows) // 2], rows[len(rows) // 2:], strict=True):
        label = "Xavier" if plain["init"] == "xavier" else f"N(0, {plain['std']:g}^2)"
        print(f"{label:<14}{plain['test_accuracy']:>8.3f}{bn['test_accuracy']:>8.3f}")
    return rows


def plot_init_sweep(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for batchnorm, color in ((False, "tab:blue"), (True, "tab:green")):
        sweep = [r for r in rows if r["batchnorm"] == batchnorm and r["init"] == "normal"]
        label = "with batch norm" if batchnorm else "without batch norm"
        ax.plot([r["std"] for r in sweep], [r["test_accuracy"] for r in sweep], "o-", color=color, label=label)
        xavier = next(r for r in rows if r["batchnorm"] == batchnorm and r["init"] == "xavier")
        ax.axhline(xavier["test_accuracy"], color=color, ls="--", lw=1, label=f"Xavier, {label}")
    ax.set(xscale="log", xlabel="init std of W ~ N(0, std^2)", ylabel="test accuracy",
           title="MNIST-1D, tanh MLP 6 x 256, short training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench/regularization")
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks the script runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = ensure_dir(args.out)
    start = time.perf_counter()
    if args.quick:
        results = {"overfitting": overfitting(3, (0,)), "ensembles": ensembles(4, 2, (0,), 2),
                   "init_sweep": init_sweep(1, [0.01, 1.0])}
    else:
        results = {"overfitting": overfitting(100, (0, 1)), "ensembles": ensembles(80, 4, (0, 1, 2), 4),
                   "init_sweep": init_sweep(5, [0.001, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0])}
    plot_init_sweep(results["init_sweep"], out / "init_sweep.png")
    results["seconds"] = time.perf_counter() - start
    write_json(out / "regularization.json", results)
    print(f"\nwrote {out / 'regularization.json'} and {out / 'init_sweep.png'} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
