"""The default recipe beside a busy neighbour: `descent train --data mnist1d --out DIR` timed as a whole command
on a quiet machine and beside one busy process (a Python spin loop, the "other program" of a user's laptop),
with descent's thread choice (the default) and with a fixed count, all in one run.

Goals (issue 12): loaded time <= 1.6 x quiet time with the default; the default's quiet time within 10% of the
fastest fixed count's. Runs alternate between settings so that drift of the machine hits all alike.

    python benchmarks/contention.py [--repeats 3] [--extra "--epochs 10"]

Threads: descent's default probes 1 and all cores of the process's affinity (printed); `--threads N` rows are
the fixed counts. The busy process is one single-threaded spin loop.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPIN = "while True: pass"


def timed(extra: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "descent", "train", "--data", "mnist1d", "--out", tmp, "--no-progress", *extra]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t
        return wall, json.loads((Path(tmp) / "metrics.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--extra", default="", help="extra flags for descent train")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    settings = {"default": [], **{f"--threads {k}": ["--threads", str(k)] for k in sorted({1, cores})}}
    extra = shlex.split(args.extra)
    walls: dict[tuple[str, str], list[float]] = {}
    chosen: list[str] = []
    for load in ("quiet", "loaded"):
        spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if load == "loaded" else None
        try:
            time.sleep(0.5 if spinner else 0.0)
            for r in range(args.repeats):
                for name, flags in settings.items():
                    wall, metrics = timed([*flags, *extra])
                    walls.setdefault((name, load), []).append(wall)
                    if "threads" in metrics:
                        chosen.append(f"{load}: {metrics['threads']['steps_by_threads']}")
                    print(f"{load:6} {name:12} run {r + 1}: {wall:6.2f} s  test acc {metrics['test_accuracy']:.3f}",
                          flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    med = {key: statistics.median(v) for key, v in walls.items()}
    print(f"\n{cores} cores; medians of {args.repeats} runs (seconds, whole command)")
    print(f"{'setting':14}{'quiet':>8}{'loaded':>8}{'loaded/quiet':>14}")
    for name in settings:
        q, lo = med[(name, "quiet")], med[(name, "loaded")]
        print(f"{name:14}{q:8.2f}{lo:8.2f}{lo / q:14.2f}")
    fastest_quiet = min(med[(name, "quiet")] for name in settings if name != "default")
    ratio = med[("default", "loaded")] / med[("default", "quiet")]
    cost = med[("default", "quiet")] / fastest_quiet - 1
    print(f"default: loaded/quiet {ratio:.2f} (goal <= 1.6); quiet time {cost:+.0%} against the fastest fixed "
          f"count (goal <= +10%)")
    print("steps by thread count in the default's runs:", "; ".join(chosen))


if __name__ == "__main__":
    main()
