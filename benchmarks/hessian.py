"""Curvature tools, measured in one process (medians of a few repeats), printed as counts and ratios.

1. The default model (``descent train --data mnist1d``: the 1-D CNN with batch norm) on 1,000 training
   examples: seconds of one gradient, of the top eigenvalue by Lanczos (and its Hessian-vector products), of
   Hutchinson's trace (100 probes) and of the density (80 Lanczos steps); each as a multiple of a gradient.
2. A small model (MLP 40-32-10, tanh, float64) on the same examples: the dense Hessian
   (torch.autograd.functional.hessian + eigvalsh) against Lanczos: seconds, products, agreement.
3. ``descent train --sharpness-every K`` on the default model: the estimates' time as a share of the
   training time without them (metrics.json's ``sharpness.cost_share``).
4. The LR range test's suggestion for SGD and Adam beside the registry's rate, and eight epochs at each
   (validation accuracy): the acceptance check of ``descent lr-find`` (``--train``; minutes).

Run: PYTHONPATH=src python benchmarks/hessian.py [--repeats 3] [--threads 2] [--train]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn
from torch.func import functional_call

from descent import data
from descent.config import ModelConfig, TrainConfig
from descent.hessian import density, flatten, top_eigenvalues, trace, unflatten
from descent.models import build_model
from descent.train import run_training
from descent.train.lrfind import range_test


def timed(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def default_model(repeats):
    splits = data.load("mnist1d", seed=0)
    torch.manual_seed(0)
    model = build_model(ModelConfig(), splits).train()
    x, y = splits.train[0][:1000], splits.train[1][:1000]
    params = list(model.parameters())
    n = sum(p.numel() for p in params)

    def loss_fn():
        return nn.functional.cross_entropy(model(x), y)

    grad_s, _ = timed(lambda: torch.autograd.grad(loss_fn(), params), repeats)
    eig_s, eig = timed(lambda: top_eigenvalues(loss_fn, params, k=1, tol=1e-3), repeats)
    tr_s, tr = timed(lambda: trace(loss_fn, params, probes=100), repeats)
    dens_s, dens = timed(lambda: density(loss_fn, params, steps=80), 1)
    print(f"1. default model: {n:,} parameters, 1,000 examples; one gradient {grad_s * 1e3:.1f} ms")
    print(f"   top eigenvalue {float(eig[0][0]):.4g}: {eig.hvps} HVPs, {eig_s / grad_s:.1f} gradients' time")
    print(f"   trace {tr[0]:.4g} +- {tr[1]:.2g}: {tr.hvps} HVPs, {tr_s / grad_s:.1f} gradients' time")
    print(f"   density (80 steps): {dens.hvps} HVPs, {dens_s / grad_s:.1f} gradients' time")


def small_model(repeats):
    splits = data.load("mnist1d", seed=0)
    x, y = splits.train[0][:1000].double(), splits.train[1][:1000]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 32), nn.Tanh(), nn.Linear(32, 10)).double()
    names, params = [n for n, _ in model.named_parameters()], list(model.parameters())
    n = sum(p.numel() for p in params)

    def flat_loss(w):
        return nn.functional.cross_entropy(functional_call(model, dict(zip(names, unflatten(w, params))), (x,)), y)

    def dense():
        return torch.linalg.eigvalsh(torch.autograd.functional.hessian(flat_loss, flatten(params).detach()))

    dense_s, exact = timed(dense, repeats)
    lanczos_s, eig = timed(lambda: top_eigenvalues(lambda: nn.functional.cross_entropy(model(x), y), params,
                                                   k=1, tol=1e-6), repeats)
    rel = abs(float(eig[0][0]) - float(exact[-1])) / abs(float(exact[-1]))
    print(f"2. small model: {n:,} parameters; dense Hessian + eigvalsh {dense_s:.3f} s ({n} x {n})")
    print(f"   Lanczos: {eig.hvps} HVPs, {lanczos_s:.3f} s; dense / Lanczos time {dense_s / lanczos_s:.1f}x; "
          f"relative difference {rel:.1e}")


def sharpness_cost(threads):
    with tempfile.TemporaryDirectory() as out:
        for every in (10, 50):
            metrics = run_training(TrainConfig.of(data="mnist1d", epochs=2, sharpness_every=every, threads=threads,
                                                  progress=False), out)
            s = metrics["sharpness"]
            print(f"3. --sharpness-every {every}: {s['estimates']} estimates, {s['hvps']} HVPs; one estimate costs "
                  f"{s['estimate_in_steps']:.1f} training steps; in all {100 * s['cost_share']:.0f}% of the "
                  "training time without them")


def lr_find_acceptance(threads, optimizers):
    for optimizer in optimizers:
        cfg = TrainConfig.of(data="mnist1d", optimizer=optimizer, threads=threads, progress=False)
        with tempfile.TemporaryDirectory() as out:
            found = range_test(cfg, out=out)
        suggested, registry = found["suggested_lr"], found["registry_lr"]
        accuracy = {}
        for name, lr in (("suggested", suggested), ("registry", registry)):
            with tempfile.TemporaryDirectory() as out:
                accuracy[name] = run_training(cfg.replace(lr=lr, epochs=8), out)["val_accuracy"]
        extra = f", 2/lambda_max at init {found['stability_limit']:.3g}" if found.get("stability_limit") else ""
        print(f"4. {optimizer}: suggested lr {suggested:.3g} (min at {found['lr_min_loss']:.3g}, steepest "
              f"{found['lr_steepest']:.3g}{extra}) -> val {accuracy['suggested']:.4f}; registry lr {registry:g} "
              f"-> val {accuracy['registry']:.4f}; difference "
              f"{100 * (accuracy['suggested'] - accuracy['registry']):+.1f} points; warnings {found['warnings']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true", help="also run part 4 (trains 4 x 8 epochs)")
    parser.add_argument("--parts", default="1234")
    parser.add_argument("--optimizers", default="sgd,adam", help="part 4's optimizers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "1" in args.parts:
        default_model(args.repeats)
    if "2" in args.parts:
        small_model(args.repeats)
    if "3" in args.parts:
        sharpness_cost(args.threads)
    if args.train and "4" in args.parts:
        lr_find_acceptance(args.threads, args.optimizers.split(","))


if __name__ == "__main__":
    main()
