"""One optimizer step, descent vs torch.optim's fastest path, at the memory-bandwidth limit.

In one process and on the same parameter and gradient tensors, for every first-order optimizer:
ms per step (median), effective bandwidth (bytes the update must move / time), the ratio of descent's time
to torch.optim's fastest available path (fused where torch has one, else the faster of foreach and loop;
the median and quartiles of the per-round ratios, every round running each candidate once in a random
order), and the ratio of the effective bandwidth to a roofline measured in the same run: an in-place
``p.add_(g)`` over the same tensors, 12 bytes per float32 parameter.

    PYTHONPATH=src python benchmarks/optim_step.py [--quick] [--threads N] [--memory]

descent runs its automatic path (``fused=None``): on CPU one C++ kernel call per step once a group holds
at least ``FUSED_MIN_NUMEL`` elements, foreach below. The kernel library's latency is printed: building it
cold (in a subprocess with an empty extensions directory) and loading it once built (this process). The
first descent step of each optimizer is printed too.

Peak memory (``--memory``, Linux, one subprocess per optimizer and library on the one-big-tensor case):
the temporaries a step allocates beyond the parameters, gradients and optimizer state, as the peak
resident set during the second step minus the resident set after it, in units of the parameter's size.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import descent.optim as D
from descent.optim import _base, _fused_cpu

# bytes moved per float32 parameter: reads of p, g and the state, writes of p and the state
BYTES = {"sgd": 12, "momentum": 20, "nesterov": 20, "adagrad": 20, "rmsprop": 20, "adadelta": 28,
         "adam": 28, "adamw": 28}
TORCH = {"sgd": (torch.optim.SGD, {}), "momentum": (torch.optim.SGD, {"momentum": 0.9}),
         "nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
         "adagrad": (torch.optim.Adagrad, {}), "rmsprop": (torch.optim.RMSprop, {}),
         "adadelta": (torch.optim.Adadelta, {}), "adam": (torch.optim.Adam, {}),
         "adamw": (torch.optim.AdamW, {})}
TORCH_FUSED = {"sgd", "momentum", "nesterov", "adagrad", "adam", "adamw"}


def interleaved(steps: dict, reps: int, seed: int = 0) -> dict:
    """Seconds of each ``steps[k]()`` in each of ``reps`` rounds, every round running every candidate once in a
    fresh random order, so that load from other processes and the order itself hit them alike."""
    order, rng = list(steps), random.Random(seed)
    times = {k: [] for k in steps}
    for _ in range(reps):
        rng.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            steps[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def paired(a: list, b: list) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratios a[i] / b[i]: a ratio of two runs of the same round."""
    r = [x / y for x, y in zip(a, b, strict=True)]
    q1, _, q3 = statistics.quantiles(r, n=4)
    return statistics.median(r), q1, q3


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
          f"{'ratio IQR':>12} {'GB/s':>6} {'roof GB/s':>9} {'of roof':>7} {'1st step s':>10}")
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
        times = interleaved({"descent": ours.step, "roofline": roofline, **theirs}, reps)
        t = {k: statistics.median(v) for k, v in times.items()}
        path = min(theirs, key=t.get)
        ratio, q1, q3 = paired(times["descent"], times[path])
        roof_gbs = 12 * numel / t["roofline"] / 1e9
        gbs = BYTES[name] * numel / t["descent"] / 1e9
        print(f"{name:10} {t['descent'] * 1e3:10.3f} {t[path] * 1e3:9.3f} {path:>10} {ratio:6.3f} "
              f"{q1:6.3f}-{q3:5.3f} {gbs:6.1f} {roof_gbs:9.1f} {gbs / roof_gbs:7.2f} {first:10.2f}")
        del ours, theirs


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))


def memory_child(library: str, name: str, numel: int) -> None:
    """Print the peak temporary bytes of one step after the first (the state exists then): reset the
    process's peak resident set (Linux: 5 > /proc/self/clear_refs), step, and take peak - resident, since
    the step's large temporaries are returned to the system when freed."""
    params = make_params([(numel,)])
    cls, kw = TORCH[name]
    if library == "descent":
        opt = D.OPTIMIZERS[name].factory(params, lr=1e-3, **{k: v for k, v in kw.items() if k != "nesterov"})
    else:
        opt = cls(params, lr=1e-3, **kw, **({"fused": True} if name in TORCH_FUSED else {}))
    opt.step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    opt.step()
    print(_status_bytes("VmHWM") - _status_bytes("VmRSS"))


def bench_memory(numel: int) -> None:
    print(f"\n## peak temporaries of one step, 1 x {numel / 1e6:.0f}M float32 (units of the parameter's "
          f"{numel * 4 / 2**20:.0f} MiB), one subprocess each")
    print(f"{'optimizer':10} {'descent':>8} {'torch':>8}")
    for name, entry in D.OPTIMIZERS.items():
        if entry.closure:
            continue
        row = []
        for library in ("descent", "torch"):
            out = subprocess.run([sys.executable, __file__, "--memory-child", library, name, str(numel)],
                                 capture_output=True, text=True, check=True, env=os.environ)
            row.append(int(out.stdout.split()[-1]) / (numel * 4))
        print(f"{name:10} {row[0]:8.2f} {row[1]:8.2f}")


def kernel_latency() -> None:
    """Cold build (fresh extensions directory, in a subprocess) and warm load (here) of the C++ kernels."""
    with tempfile.TemporaryDirectory() as tmp:
        code = ("import time; t = time.perf_counter(); from descent.optim._fused_cpu import LIBRARY; "
                "LIBRARY.load(); print(time.perf_counter() - t, LIBRARY.error)")
        cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "TORCH_EXTENSIONS_DIR": tmp}).stdout.strip()
    library = _fused_cpu.LIBRARY
    library.load()
    load = "n/a" if library.load_seconds is None else f"{library.load_seconds * 1e3:.1f} ms"
    print(f"C++ kernel library: cold build {float(cold.split()[0]):.2f} s (once per machine), "
          f"load when built {load} (once per process); unavailable: {library.error or 'no'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller tensors, fewer repetitions")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--memory", action="store_true", help="also measure peak temporaries (subprocesses)")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], int(args.memory_child[2]))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = 5 if args.quick else 25
    big, many = (5_000_000, 10) if args.quick else (50_000_000, 100)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {reps} steps; "
          f"descent fused for tensors >= {_base.FUSED_MIN_NUMEL} elements")
    kernel_latency()
    bench_case("one big tensor", [(big,)], reps)
    bench_case("many tensors", [(500_000,)] * many, reps)
    bench_case("small CNN (vs torch.optim's default)", small_cnn_shapes(), reps * 40, small=True)
    if args.memory:
        bench_memory(big)


if __name__ == "__main__":
    main()
