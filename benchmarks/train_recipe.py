"""The default recipe: `descent train --data mnist1d --out DIR` with no other flag, timed as a whole command
(interpreter start, imports, data, training, outputs). Targets: test accuracy >= 0.94 (the published CNN
baseline of MNIST-1D) in <= 15 s wall time on a 2-core CPU. Prints the median over --repeats runs.

    python benchmarks/train_recipe.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("extra", nargs="*", help="extra flags for descent train")
    args = ap.parse_args()
    walls, accs = [], []
    for i in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "descent", "train", "--data", "mnist1d", "--out", tmp, *args.extra]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            m = json.loads((Path(tmp) / "metrics.json").read_text())
            accs.append(m["test_accuracy"])
            print(f"run {i + 1}: wall {walls[-1]:.2f} s (train {m['train_seconds']:.2f} s), "
                  f"test accuracy {m['test_accuracy']:.4f}", flush=True)
    print(f"median wall {statistics.median(walls):.2f} s (target <= 15), "
          f"median test accuracy {statistics.median(accs):.4f} (target >= 0.94), min {min(accs):.4f}")


if __name__ == "__main__":
    main()
