"""`descent ensemble RUN_DIR [RUN_DIR ...] --out DIR`: the test accuracy of the average of trained models.

Each ``RUN_DIR`` is the output of ``descent train`` and holds ``checkpoint.pt`` (``descent.train.checkpoint``:
the model's state dict, the best-validation weights and the ``TrainConfig``, loaded with ``weights_only=True``
and checked against its checksum). Every member is rebuilt from its own config (``descent.models.build_model``)
on its own data splits
(``descent.data.load``, standardized with its own training statistics), and the members must share one test
set. The ensemble predicts ``argmax_y 1/M sum_m softmax(f_m(x))``. Writes ``DIR/metrics.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .. import checks
from .._io import ensure_dir, write_json
from ..config import TrainConfig
from ..data import load
from ..errors import DescentError, one_line
from ..models import build_model
from ..train import checkpoint
from ..train.ensemble import average_probabilities
from ..train.resolve import resolve_device


def register(sub) -> None:
    p = sub.add_parser("ensemble", help="test accuracy of the average of trained runs' probabilities",
                       description="Average the softmax probabilities of the models in several "
                       "`descent train` output folders on their common test set; write DIR/metrics.json.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders written by `descent train`")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for metrics.json")
    p.add_argument("--weights", choices=("best", "last"), default="best",
                   help="best: the best-validation weights `descent train` reports test_accuracy for (default); "
                   "last: the weights at the end of training")
    p.add_argument("--device", default="cpu", help="device to evaluate on (default cpu)")
    p.set_defaults(func=run)


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """The checkpoint of a ``descent train`` folder, checked as every checkpoint is (``train/checkpoint.py``)."""
    path = Path(run_dir) / "checkpoint.pt"
    if not path.is_file():
        raise DescentError(f"no checkpoint in {str(run_dir)!r}: {str(path)!r} does not exist")
    return checkpoint.load(path)


def _member(run_dir: str, splits_cache: dict[tuple, Any], device: torch.device, weights: str):
    """Rebuild one run's model and return it with its configuration and test split."""
    saved = load_checkpoint(run_dir)
    cfg = TrainConfig.from_dict(saved["config"])
    d = cfg.data
    key = (d.name, d.data_dir, cfg.run.seed, d.val_fraction, d.standardize, d.train_subset)
    if key not in splits_cache:
        splits_cache[key] = load(d.name, d.data_dir, seed=cfg.run.seed, val_fraction=d.val_fraction,
                                 standardize=d.standardize, train_subset=d.train_subset)
    splits = splits_cache[key]
    model = build_model(cfg.model, splits)
    state = saved["model"]
    if weights == "best":
        best = saved["trainer"].get("best_state")
        state = best if best is not None else state
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DescentError(f"checkpoint of {run_dir!r} does not fit the model its config builds: "
                           f"{one_line(e)[:300]}") from None
    return cfg, model.to(device).eval(), splits.test


def _accuracy(probabilities: torch.Tensor, y: torch.Tensor) -> float:
    return (probabilities.argmax(-1) == y.to(probabilities.device)).float().mean().item()


def ensemble_metrics(run_dirs: list[str], device: str = "cpu", weights: str = "best") -> dict[str, Any]:
    """Test accuracy of the probability-averaged ensemble of ``run_dirs`` and of each member.

    ``weights``: 'best' uses the checkpoint's best-validation weights when it holds them (what
    ``descent train`` reports ``test_accuracy`` for), 'last' the weights at the end of training."""
    checks.one_of("weights", weights, ("best", "last"))
    device = resolve_device(device)
    cache: dict[tuple, Any] = {}
    members, probabilities, y_test = [], [], None
    for run_dir in run_dirs:
        cfg, model, (x, y) = _member(run_dir, cache, device, weights)
        if y_test is None:
            y_test = y
        elif not torch.equal(y, y_test):
            raise DescentError(f"{run_dir!r} was tested on another test set than {run_dirs[0]!r} "
                               f"(data {cfg.data.name!r}); an ensemble needs one test set")
        x = x.to(device)
        probabilities.append(average_probabilities([model], x))
        members.append({"run_dir": str(run_dir), "test_accuracy": _accuracy(probabilities[-1], y),
                        "data": cfg.data.name, "model": cfg.model.arch, "optimizer": cfg.optimizer.name,
                        "seed": cfg.run.seed})
    accuracy = _accuracy(torch.stack(probabilities).mean(0), y_test)
    accuracies = [m["test_accuracy"] for m in members]
    return {"ensemble_test_accuracy": accuracy, "members": members, "n_members": len(members), "weights": weights,
            "mean_member_test_accuracy": sum(accuracies) / len(accuracies),
            "best_member_test_accuracy": max(accuracies), "n_test": len(y_test)}


def run(args) -> int:
    metrics = ensemble_metrics(args.run_dirs, args.device, args.weights)
    out = ensure_dir(args.out)
    write_json(out / "metrics.json", metrics)
    for m in metrics["members"]:
        print(f"{m['test_accuracy']:8.4f}  {m['run_dir']}")
    print(f"{metrics['ensemble_test_accuracy']:8.4f}  ensemble of {metrics['n_members']} (mean member "
          f"{metrics['mean_member_test_accuracy']:.4f}, best {metrics['best_member_test_accuracy']:.4f})")
    print(f"wrote {out / 'metrics.json'}")
    return 0
