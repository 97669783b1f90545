"""`descent lr-find`: the learning-rate range test (Smith, 2017) for a training configuration.

Takes the training flags of ``descent train`` (data, model, optimizer, batch size, seed...); the rate grows
exponentially from ``--lr-min`` to ``--lr-max`` over ``--steps`` minibatch steps from the run's own
initialization. Writes ``lr_find.csv`` (lr, loss, smoothed_loss), ``lr_find.png`` and ``lr_find.json``
(``suggested_lr``, the rule's intermediate values, warnings, and for SGD the cross-check against
2/lambda_max). The rule is documented in :mod:`descent.train.lrfind`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .._io import ensure_dir, write_csv, write_json
from ..config import TrainConfig
from ..report.curves import finish, pyplot
from ..train.lrfind import range_test
from ._common import positive_float, positive_int
from ._config import add_optimizer_arguments, add_training_arguments, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    base = TrainConfig()
    p = sub.add_parser("lr-find", help="the learning-rate range test: a suggested lr for a configuration",
                       description="LR range test (Smith 2017): a short run with an exponentially growing "
                                   "learning rate; suggests a rate by a rule robust to spikes (see "
                                   "descent.train.lrfind) and, for SGD, checks it against 2/lambda_max.")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--lr-min", type=positive_float, default=1e-6, help="first rate (default 1e-6)")
    p.add_argument("--lr-max", type=positive_float, default=10.0, help="last rate (default 10)")
    p.add_argument("--steps", type=positive_int, default=100, help="minibatch steps (default 100)")
    p.add_argument("--stop-factor", type=positive_float, default=4.0,
                   help="stop once the smoothed loss exceeds this multiple of its minimum (default 4)")
    add_optimizer_arguments(p, base)
    add_training_arguments(p, base)
    p.set_defaults(func=main)


def main(args) -> int:
    cfg = config_from_args(args, TrainConfig())
    out = Path(args.out)
    created = not out.exists()
    try:
        result = range_test(cfg, lr_min=args.lr_min, lr_max=args.lr_max, steps=args.steps,
                            stop_factor=args.stop_factor, out=out)
    except BaseException:
        if created:  # build() may have made the folder: a failed start leaves nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    out = ensure_dir(out)
    write_csv(out / "lr_find.csv", result["rows"], ["lr", "loss", "smoothed_loss"])
    write_json(out / "lr_find.json", {k: v for k, v in result.items() if k != "rows"})
    plot(result, out / "lr_find.png")
    for warning in result["warnings"]:
        print(f"descent lr-find: warning: {warning}", file=sys.stderr)
    suggested = result["suggested_lr"]
    line = f"suggested lr {suggested:.3g}" if suggested else "no suggestion"
    line += f" (minimum of the smoothed loss at {result['lr_min_loss']:.3g}, steepest at " \
            f"{result['lr_steepest']:.3g}; registry lr {result['registry_lr']:.3g})"
    if result.get("stability_limit"):
        line += f"; 2/lambda_max at init {result['stability_limit']:.3g}"
    print(line)
    print(f"wrote {out / 'lr_find.png'}, lr_find.csv, lr_find.json")
    return 0


def plot(result: dict, path: Path) -> None:
    plt = pyplot()
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["lr"] for r in rows], [r["loss"] for r in rows], lw=0.8, alpha=0.5, label="batch loss")
    ax.plot([r["lr"] for r in rows], [r["smoothed_loss"] for r in rows], lw=1.8, label="smoothed (median, mean)")
    marks = [("lr_steepest", "steepest", "tab:orange"), ("lr_min_loss", "minimum", "tab:red"),
             ("suggested_lr", "suggested", "tab:green"), ("stability_limit", "2/lambda_max at init", "black")]
    for key, label, color in marks:
        if result.get(key):
            ax.axvline(result[key], color=color, ls="--", lw=1, label=f"{label} {result[key]:.3g}")
    finite = [r["smoothed_loss"] for r in rows if r["smoothed_loss"] == r["smoothed_loss"]]
    if finite:
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 4 * min(finite), finite[0] * 1.5) * 1.05)
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss",
           title=f"LR range test: {result['optimizer']} on {result['data']}")
    finish(fig, [ax], path)
