"""`descent lab sharpness`: the edge of stability (Cohen et al., 2021) on an MNIST-1D subset.

Full-batch gradient descent at several learning rates from one initialization; the top Hessian eigenvalue
every ``--every`` steps. Writes ``sharpness.csv`` (lr, step, loss, sharpness), ``sharpness.png`` and
``sharpness.json`` (per rate: the peak and second-half sharpness as multiples of 2/lr, and whether the run
shows the edge of stability) into ``--out``. See :mod:`descent.lab.sharpness`.
"""

from __future__ import annotations

import argparse

import torch

from .._io import ensure_dir, write_csv, write_json
from ..lab.sharpness import LOSSES, Experiment, plot, run
from ..models import ACTIVATIONS
from ..train.resolve import available_memory
from ._common import positive_float, positive_int


def rates(text: str) -> tuple[float, ...]:
    """Comma-separated positive learning rates: ``0.1,0.15,0.2``."""
    values = tuple(positive_float(part) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: must be comma-separated positive numbers")
    return values


def register(sub) -> None:
    d = Experiment()
    p = sub.add_parser("sharpness", help="the edge of stability: sharpness rises to 2/lr under full-batch GD",
                       description="Full-batch gradient descent on an MNIST-1D subset at several learning rates; "
                       "the top Hessian eigenvalue rises to about 2/lr and hovers there (Cohen et al., 2021).")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--lrs", type=rates, default=d.lrs, help=f"learning rates (default {','.join(map(str, d.lrs))})")
    p.add_argument("--steps", type=positive_int, default=d.steps, help=f"GD steps per rate (default {d.steps})")
    p.add_argument("--every", type=positive_int, default=d.every, help=f"steps between estimates (default {d.every})")
    p.add_argument("--examples", type=positive_int, default=d.examples,
                   help=f"MNIST-1D training examples (default {d.examples})")
    p.add_argument("--width", type=positive_int, default=d.width, help=f"hidden units (default {d.width})")
    p.add_argument("--depth", type=positive_int, default=d.depth, help=f"hidden layers (default {d.depth})")
    p.add_argument("--activation", choices=list(ACTIVATIONS), default=d.activation)
    p.add_argument("--loss", choices=list(LOSSES), default=d.loss, help="mse on one-hot targets (the paper's) "
                   "or cross_entropy")
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=main)


def main(args) -> int:
    exp = Experiment(lrs=args.lrs, steps=args.steps, every=args.every, examples=args.examples, width=args.width,
                     depth=args.depth, activation=args.activation, loss=args.loss, seed=args.seed)
    # float64 weights, their gradient graph and up to 100 Lanczos vectors: refused before allocating
    n = 40 * exp.width + (exp.depth - 1) * exp.width ** 2 + 10 * exp.width
    need = 8 * (110 * n + 6 * exp.examples * exp.width * exp.depth)
    have = available_memory(torch.device("cpu"))
    if have is not None and need > have:
        raise ValueError(f"invalid --width={exp.width}: must be smaller: the Hessian estimates need about "
                         f"{need / 2**30:,.1f} GiB, and {have / 2**30:,.1f} GiB are available")
    torch.set_num_threads(1)  # small matrices: a second thread only waits (and, on a busy machine, spins)
    out = ensure_dir(args.out)
    rows, verdicts = run(exp)
    write_csv(out / "sharpness.csv", rows, ["lr", "step", "loss", "sharpness"])
    write_json(out / "sharpness.json", {"experiment": vars(exp) | {"lrs": list(exp.lrs)}, "rates": verdicts,
                                        "edge_of_stability": all(v["edge_of_stability"] for v in verdicts)})
    plot(rows, out / "sharpness.png", title=f"full-batch GD, {exp.activation} MLP {exp.depth}x{exp.width}, "
                                            f"{exp.loss}, {exp.examples} MNIST-1D examples")
    print(f"{'lr':>8}{'2/lr':>8}{'start':>8}{'peak':>8}{'2nd half max':>14}{'edge':>6}   (sharpness / (2/lr))")
    for v in verdicts:
        print(f"{v['lr']:>8g}{v['two_over_lr']:>8.3g}{v['initial_ratio']:>8.2f}{v['peak_ratio']:>8.2f}"
              f"{v['second_half_max_ratio']:>14.2f}{'yes' if v['edge_of_stability'] else 'no':>6}")
    print(f"wrote {out / 'sharpness.png'}, sharpness.csv, sharpness.json")
    return 0
