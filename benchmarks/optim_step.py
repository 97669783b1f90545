"""One optimizer step, descent vs torch.optim's fastest path, at the memory-bandwidth limit.

In one process and on the same parameter and gradient tensors, for every first-order optimizer:
ms per step (median), effective bandwidth (bytes the update must move / time), the ratio of descent's time
to torch.optim's fastest available path (fused where torch has one, else the faster of foreach and loop),
and the ratio of the effective bandwidth to a roofline measured in the same run: an in-place
``p.add_(g)`` over the same tensors, 12 bytes per float32 parameter.

    PYTHONPATH=src python benchmarks/optim_step.py [--quick] [--threads N]

descent runs its automatic path (``fused=None``): compiled per tensor for tensors of at least
``FUSED_MIN_NUMEL`` elements, foreach below. The first descent step of each optimizer includes any
compilation (cold: C++ code generation and compilation; warm: inductor's on-disk cache) and is printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import descent.optim as D
from descent.optim import _base

# bytes moved per float32 parameter: reads of p, g and the state, writes of p and the state
BYTES = {"sgd": 12, "momentum": 20, "nesterov": 20, "adagrad": 20, "rmsprop": 20, "adadelta": 28,
         "adam": 28, "adamw": 28}
TORCH = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
         "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
         "adagrad": (torch.optim.Adagrad, {}), "rmsprop": (torch.optim.RMSprop, {}),
         "adadelta": (torch.optim.Adadelta, {}), "adam": (torch.optim.Adam, {}),
         "adamw": (torch.optim.AdamW, {})}
TORCH_FUSED = {"sgd", "momentum", "nesterov", "adagrad", "adam", "adamw"}


def interleaved(steps: dict, reps: int) -> dict:
    """Median seconds of each ``steps[k]()``, the candidates taking turns so that load from other processes
    on a shared machine hits them alike."""
    times = {k: [] for k in steps}
    for _ in range(reps):
        for k, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def make_params(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g).requires_grad_() for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g).mul_(1e-3)
    return params


def small_cnn_shapes():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 4 * 4, 64),
                                torch.nn.ReLU(), torch.nn.Linear(64, 10))
    return [tuple(p.shape) for p in model.parameters()]


def torch_candidates(name, params, small):
    """torch.optim's paths to compare with: fused where torch has it, else foreach and loop; the small
    model compares with torch's default."""
    cls, kw = TORCH[name]
    if small:
        return {"default": cls(params, lr=1e-3, **kw).step}
    if name in TORCH_FUSED:
        return {"fused": cls(params, lr=1e-3, fused=True, **kw).step}
    return {"foreach" if f else "loop": cls(params, lr=1e-3, foreach=f, **kw).step for f in (True, False)}


def bench_case(label, shapes, reps, small=False):
    params = make_params(shapes)
    numel = sum(p.numel() for p in params)
    print(f"\n## {label}: {len(shapes)} tensors, {numel / 1e6:.2f}M float32 params")
    print(f"{'optimizer':10} {'descent ms':>10} {'torch ms':>9} {'torch path':>10} {'ratio':>6} "
          f"{'GB/s':>6} {'roof GB/s':>9} {'of roof':>7} {'1st step s':>10}")
    for name, entry in D.OPTIMIZERS.items():
        if entry.closure:
            continue
        cls, kw = TORCH[name]
        ours = entry.factory(params, lr=1e-3, **{k: v for k, v in kw.items() if k != "nesterov"})
        t0 = time.perf_counter()
        ours.step()  # lazy state, and the compilation if any
        first = time.perf_counter() - t0
        theirs = torch_candidates(name, params, small)
        for step in theirs.values():
            step()
        roofline = lambda: [p.data.add_(p.grad) for p in params]  # noqa: E731
        t = interleaved({"descent": ours.step, "roofline": roofline, **theirs}, reps)
        path = min(theirs, key=t.get)
        roof_gbs = 12 * numel / t["roofline"] / 1e9
        gbs = BYTES[name] * numel / t["descent"] / 1e9
        print(f"{name:10} {t['descent'] * 1e3:10.2f} {t[path] * 1e3:9.2f} {path:>10} "
              f"{t['descent'] / t[path]:6.2f} {gbs:6.1f} {roof_gbs:9.1f} {gbs / roof_gbs:7.2f} {first:10.2f}")
        del ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller tensors, fewer repetitions")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = 5 if args.quick else 15
    big, many = (5_000_000, 10) if args.quick else (50_000_000, 100)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {reps} steps; "
          f"descent fused for tensors >= {_base.FUSED_MIN_NUMEL} elements")
    bench_case("one big tensor", [(big,)], reps)
    bench_case("many tensors", [(500_000,)] * many, reps)
    bench_case("small CNN (vs torch.optim's default)", small_cnn_shapes(), reps * 20, small=True)


if __name__ == "__main__":
    main()
