"""Scaling out, measured in one run (issue 14): search throughput with 1 and 2 workers on a journal file and on
PostgreSQL, and data-parallel (DDP, gloo) step time for 1 vs 2 ranks with the all-reduce's share of a step, at
the default model (the MNIST-1D CNN) and at a 10M-parameter MLP. Prints ratios, and the arithmetic of what an
NCCL all-reduce of the same bytes would cost on GPUs.

    python benchmarks/scale.py [--trials 8] [--steps 30] [--skip-search] [--skip-ddp]

The PostgreSQL server is a temporary one (tests/distributed/pgserver.py: initdb, a loopback port); pass
``--postgres URL`` to use another. On a 2-core machine 2 ranks or 2 workers share the cores, so expect little
speed-up; the figures are what this machine measures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "distributed"))

SEARCH = ["--method", "random", "--epochs", "2", "--data", "spiral", "--model", "mlp", "--threads", "1",
          "--space", "lr=1e-3:1e-1:log"]
NCCL_BUS_GBPS = {"PCIe 4.0 x16 (~20 GB/s)": 20.0, "NVLink 4 (H100, ~350 GB/s bus)": 350.0}


# ------------------------------------------------------------------------------------------------ search


def search_seconds(storage: str | None, workers: int, trials: int, out: Path) -> float:
    argv = [sys.executable, "-m", "descent", "search", "--trials", str(trials), "--workers", str(workers),
            "--out", str(out), *SEARCH, *(["--storage", storage] if storage else [])]
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def bench_search(trials: int, postgres: str | None) -> None:
    from pgserver import new_database

    print(f"search throughput: {trials} trials of 2 epochs (spiral MLP), wall time of `descent search` "
          "including start-up")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("journal", "postgresql"):
            times = {}
            for workers in (1, 2):
                out = Path(tmp) / f"{name}-{workers}"
                if name == "journal":
                    storage = f"journal:{out}.journal"
                elif postgres:
                    storage = new_database(postgres, f"bench_{workers}")
                else:
                    storage = None
                times[workers] = search_seconds(storage, workers, trials, out)
            print(f"  {name:10s}: 1 worker {trials / times[1]:.2f} trials/s, 2 workers {trials / times[2]:.2f} "
                  f"trials/s  (speed-up {times[1] / times[2]:.2f}x)")


# --------------------------------------------------------------------------------------------------- DDP


def _models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    from descent.config import ModelConfig
    from descent.data import load
    from descent.models import build_model

    splits = load("mnist1d", None, seed=0)
    return {"default (mnist1d CNN)": (build_model(ModelConfig(), splits), splits.input_shape),
            "MLP 10M": (build_model(ModelConfig(arch="mlp", width=2240, depth=3), splits), splits.input_shape)}


def _step(net: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(x), y).backward()
    opt.step()


def _rank(rank: int, world: int, port: int, steps: int, batch: int, results: dict) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    for name, (model, shape) in _models().items():
        net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x, y = torch.randn(batch // world, *shape), torch.randint(0, 10, (batch // world,))

        for _ in range(3):
            _step(net, opt, x, y)
        start = time.perf_counter()
        for _ in range(steps):
            _step(net, opt, x, y)
        per_step = (time.perf_counter() - start) / steps
        flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        reduce = 0.0
        if world > 1:
            dist.barrier()
            start = time.perf_counter()
            for _ in range(steps):
                dist.all_reduce(flat)
            reduce = (time.perf_counter() - start) / steps
        if rank == 0:
            results[(name, world)] = (per_step, reduce, flat.numel())
    if world > 1:
        dist.destroy_process_group()


def bench_ddp(steps: int, batch: int) -> None:
    from launched import free_port

    manager = mp.Manager()
    results = manager.dict()
    for world in (1, 2):
        mp.spawn(_rank, args=(world, free_port(), steps, batch, results), nprocs=world)
    print(f"DDP (gloo, CPU, 1 thread per rank), global batch {batch}, {steps} steps:")
    for name in ("default (mnist1d CNN)", "MLP 10M"):
        one, _, numel = results[(name, 1)]
        two, reduce, _ = results[(name, 2)]
        mb = 4 * numel / 2**20
        print(f"  {name:22s}: {numel / 1e6:.2f}M parameters ({mb:.1f} MiB all-reduced per step); step 2 ranks / "
              f"1 rank = {two / one:.2f}; all-reduce alone = {reduce / two:.0%} of a 2-rank step")
        for link, gbps in NCCL_BUS_GBPS.items():
            # ring all-reduce moves 2 (N-1)/N of the bytes over each link; N = 8 GPUs
            ms = 2 * 7 / 8 * 4 * numel / (gbps * 1e9) * 1e3
            print(f"      NCCL on 8 GPUs over {link}: {ms:.2f} ms per all-reduce")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--postgres", default=None, help="a server URL (default: a temporary one)")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--skip-ddp", action="store_true")
    args = parser.parse_args()
    if not args.skip_ddp:
        bench_ddp(args.steps, args.batch)
    if not args.skip_search:
        if args.postgres:
            bench_search(args.trials, args.postgres)
        else:
            from pgserver import temporary_server

            with temporary_server() as server:
                bench_search(args.trials, server)


if __name__ == "__main__":
    main()
