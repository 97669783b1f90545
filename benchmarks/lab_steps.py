"""Steps to the minimum for every optimizer on every 2-D test function, and the 30-step picture.

    PYTHONPATH=src python benchmarks/lab_steps.py [--out runs/bench] [--max-steps 10000] [--grid]

Criterion: the first step t with ||theta_t - theta*|| <= 1e-3 (Euclidean), theta* the nearest GLOBAL minimum
(a path that settles in a local minimum never counts). "—" means not within --max-steps steps, diverged, or
stalled elsewhere (moved less than 1e-12 in 200 steps). The saddle x^2 - y^2 has no minimum: always "—".

Table 1 runs every optimizer at its registry ``lab_lr`` (or the values given with --lab-lr). With --grid,
table 2 gives the fewest steps over the learning rates lab_lr * 10^(k/2), k = -4..2, and the lr that
achieved it.
Also writes OUT/lab_quadratic_30.png: 30 steps of every optimizer on x^2/20 + y^2 from (-7, 2).
"""

from __future__ import annotations

import argparse
import time

import torch

from descent.lab import FUNCTIONS, scenes, steps_to_minimum
from descent.optim.registry import OPTIMIZERS

GRID = tuple(10 ** (k / 2) for k in range(-4, 3))


def table(rows: dict[str, dict[str, str]], title: str) -> str:
    """A Markdown table: one row per optimizer, one column per function."""
    functions = list(FUNCTIONS)
    lines = [f"**{title}**", "", "| optimizer | " + " | ".join(functions) + " |",
             "|---" * (len(functions) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells[f] for f in functions) + " |" for name, cells in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--max-steps", type=int, default=10_000)
    parser.add_argument("--grid", action="store_true", help="also search the lr grid (slower)")
    parser.add_argument("--lab-lr", default="", help="try other lab_lr values: sgd=0.3,momentum=0.03")
    args = parser.parse_args()
    lab_lr = {name: entry.lab_lr for name, entry in OPTIMIZERS.items()}
    for item in filter(None, args.lab_lr.split(",")):
        name, value = item.split("=")
        lab_lr[name] = float(value)
    torch.set_num_threads(1)
    began = time.perf_counter()

    scene = scenes.Scene("lab_quadratic_30", "30 steps on x^2/20 + y^2 from (-7, 2) at lab_lr", tuple(
        scenes.Panel(f"{name} lr={lab_lr[name]:g}", "quadratic", (scenes.Run(name, name, lab_lr[name]),), 30)
        for name in OPTIMIZERS))
    files, _ = scenes.render(scene, args.out, gif=False)
    print(f"wrote {files[0]}\n")

    at_lab_lr: dict[str, dict[str, str]] = {}
    best: dict[str, dict[str, str]] = {}
    for name in OPTIMIZERS:
        at_lab_lr[name], best[name] = {}, {}
        for function in FUNCTIONS:
            steps = steps_to_minimum(function, name, lr=lab_lr[name], max_steps=args.max_steps)
            at_lab_lr[name][function] = "—" if steps is None else str(steps)
            if args.grid:
                tried = [(steps_to_minimum(function, name, lr=lab_lr[name] * g, max_steps=args.max_steps),
                          lab_lr[name] * g) for g in GRID]
                reached = [(s, lr) for s, lr in tried if s is not None]
                best[name][function] = "—" if not reached else "{} (lr {:.3g})".format(*min(reached))
    lab_lrs = ", ".join(f"{n} {lr:g}" for n, lr in lab_lr.items())
    print(table(at_lab_lr, f"Steps to within 1e-3 of a global minimum at lab_lr ({lab_lrs}), "
                           f"cap {args.max_steps}"))
    if args.grid:
        print()
        print(table(best, f"Fewest steps over lr = lab_lr x 10^(k/2), k = -4..2, cap {args.max_steps}"))
    print(f"\n({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
