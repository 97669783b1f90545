"""`descent lab landscape --run RUN_DIR --out DIR`: the loss landscape around a finished run's weights.

Writes ``landscape.csv`` (alpha, beta, loss: the 2-D slice along two filter-normalized random directions),
``landscape.png`` (that slice and a 1-D one), ``trajectory.csv`` (per epoch: the PCA coordinates, the true
loss and the loss of the PCA plane beneath the path), ``trajectory.png`` and ``landscape.json`` (explained
variance of each PCA direction, the 1-D slice, the PCA-plane grid, the path and its error).
See :mod:`descent.lab.landscape`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .._io import ensure_dir, write_csv, write_json
from ..errors import DescentError
from ..lab.landscape import BIAS_BN, landscape
from ..lab.landscape_plots import plot_slices, plot_trajectory
from ._common import positive_float, positive_int


def register(sub) -> None:
    p = sub.add_parser("landscape", help="loss landscape and PCA trajectory around a finished run's weights",
                       description="Slices of the loss along filter-normalized random directions (Li et al., "
                       "2018) around a run's final weights, and the run's trajectory on its top two PCA "
                       "directions, with the true loss along the path.")
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="a finished `descent train` folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--grid", type=positive_int, default=21, help="points per axis of the 2-D grids (default 21)")
    p.add_argument("--span", type=positive_float, default=1.0,
                   help="the random slices cover [-span, span] in units of the filter norms (default 1)")
    p.add_argument("--examples", type=positive_int, default=1000,
                   help="training examples the loss is evaluated on (default 1000)")
    p.add_argument("--bias-bn", choices=list(BIAS_BN), default="zero",
                   help="the random directions' 1-D tensors (biases, batch-norm): zero (default) or whole-tensor "
                        "normalized")
    p.add_argument("--seed", type=int, default=0, help="seed of the random directions and the examples")
    p.set_defaults(func=main)


def main(args) -> int:
    if not (Path(args.run) / "checkpoint.pt").is_file():
        raise DescentError(f"--run {args.run!r}: no checkpoint.pt there; is it a finished `descent train` folder?")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    result = landscape(args.run, grid=args.grid, span=args.span, examples=args.examples, bias_bn=args.bias_bn,
                       seed=args.seed)
    out = ensure_dir(args.out)  # only once the computation has succeeded: a failed start leaves no folder
    write_csv(out / "landscape.csv", result["surface"], ["alpha", "beta", "loss"])
    t = result["trajectory"]
    write_csv(out / "trajectory.csv", t["path"], ["epoch", "a", "b", "true_loss", "plane_loss", "difference",
                                                  "distance_outside_plane"])
    write_json(out / "landscape.json", result)
    plot_slices(result, out / "landscape.png")
    plot_trajectory(result, out / "trajectory.png")
    ev = t["explained_variance"]
    err = result["path_error"]
    print(f"loss at the final weights {result['center_loss']:.4g}; PCA explains {100 * ev[0]:.1f}% + "
          f"{100 * ev[1]:.1f}% of the path; true loss vs the plane beneath the path: max |difference| "
          f"{err['max_abs_difference']:.3g}")
    print(f"wrote {out / 'landscape.png'}, trajectory.png, landscape.csv, trajectory.csv, landscape.json")
    return 0
