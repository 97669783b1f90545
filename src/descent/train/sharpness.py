r"""Sharpness during training: the top eigenvalue of the training loss's Hessian every K optimizer steps.

On a quadratic :math:`L(\theta) = \tfrac12 \theta^\top H \theta`, gradient descent
:math:`\theta \leftarrow \theta - \eta H \theta` multiplies the component along an eigenvector of eigenvalue
:math:`\lambda` by :math:`1 - \eta \lambda`; it shrinks only if :math:`\lambda < 2 / \eta`. Cohen et al.
("Gradient descent on neural networks typically occurs at the edge of stability", 2021) found that in
full-batch training the sharpness :math:`\lambda_{\max}` rises until it reaches :math:`2 / \eta` and then
hovers there. :class:`Sharpness` records :math:`\lambda_{\max}` (Lanczos, :mod:`descent.hessian`) with the
rate of the step just taken, so ``report.html`` can draw it against :math:`2 / \eta`.

The loss is the trainer's objective (data loss plus penalty) on a fixed batch: ``batch_size`` training
examples drawn once with the run's seed, all of them in a full-batch run; no augmentation. Measuring never
changes the run: the batch-norm buffers and the torch RNG are restored after each estimate (the estimate
itself sees the batch statistics and one dropout mask, those of its one forward pass). Rows go to
``sharpness.csv`` (step, lr, sharpness, hvps, seconds) at every epoch's end; ``metrics.json`` gets the time
spent as a share of the training time without it (``cost_share``) and the cost of one estimate in training
steps (``estimate_in_steps``; a step's time includes its share of validation).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checks
from .._io import write_csv
from ..hessian import top_eigenvalues
from .callbacks import Callback

COLUMNS = ["step", "lr", "sharpness", "hvps", "seconds"]


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Run a measurement on ``model`` and leave no trace: buffers (batch-norm running statistics), the
    train/eval mode of every module and the torch RNG state are restored afterwards."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    modes = {m: m.training for m in model.modules()}
    rng = torch.get_rng_state()
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for m, mode in modes.items():
            m.training = mode
        torch.set_rng_state(rng)


class Sharpness(Callback):
    """Every ``every`` optimizer steps (and before the first), the top Hessian eigenvalue of the objective on
    a fixed batch, written to ``path`` (``sharpness.csv``).

    >>> import torch
    >>> from torch import nn
    >>> from types import SimpleNamespace
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> model = nn.Linear(3, 2)
    >>> trainer = SimpleNamespace(model=model, splits=SimpleNamespace(train=(x, y)), batch_size=64,
    ...                           plan=SimpleNamespace(seed=0), device=torch.device("cpu"), step=0,
    ...                           objective=lambda xb, yb: (nn.functional.cross_entropy(model(xb), yb), None),
    ...                           optimizer=torch.optim.SGD(model.parameters(), lr=0.1), last_lr=0.1)
    >>> callback = Sharpness(every=5)
    >>> callback.on_train_begin(trainer)
    >>> row = callback.rows[0]
    >>> row["step"], row["lr"], row["sharpness"] > 0
    (0, 0.1, True)
    """

    name = "sharpness"

    def __init__(self, every: int, path: str | Path | None = None, tol: float = 1e-3, max_iter: int = 100) -> None:
        self.every = checks.positive_int("sharpness_every", every)
        self.path = None if path is None else Path(path)
        self.tol, self.max_iter = tol, max_iter
        self.rows: list[dict[str, Any]] = []
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def on_train_begin(self, trainer: Any) -> None:
        x, y = trainer.splits.train
        generator = torch.Generator().manual_seed(int(trainer.plan.seed))
        keep = torch.randperm(len(x), generator=generator)[: min(trainer.batch_size, len(x))]
        self.batch = (x[keep].to(trainer.device), y[keep].to(trainer.device))
        if trainer.step == 0 and not self.rows:
            self.measure(trainer, 0, trainer.optimizer.param_groups[0]["lr"])

    def on_batch_end(self, trainer: Any, step: int, loss: float) -> None:
        if (step + 1) % self.every == 0:
            self.measure(trainer, step + 1, trainer.last_lr)

    def measure(self, trainer: Any, step: int, lr: float) -> float:
        """The top eigenvalue after ``step`` optimizer steps; appends a row and returns the value."""
        start = time.perf_counter()
        x, y = self.batch
        with preserved(trainer.model):
            values, _ = result = top_eigenvalues(lambda: trainer.objective(x, y)[0], trainer.model.parameters(),
                                                 k=1, tol=self.tol, max_iter=self.max_iter, seed=step)
        value = float(values[0])
        self.rows.append({"step": step, "lr": lr, "sharpness": value, "hvps": result.hvps,
                          "seconds": time.perf_counter() - start})
        return value

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self.write()

    def on_train_end(self, trainer: Any) -> None:
        self.write()
        self.train_seconds, self.steps = trainer.train_seconds, trainer.step

    def write(self) -> None:
        """Rewrite ``path`` (if given) with every row measured so far."""
        if self.path is not None:
            write_csv(self.path, self.rows, COLUMNS)

    def summary(self) -> dict[str, Any]:
        if not self.rows:
            return {}
        spent = sum(r["seconds"] for r in self.rows)
        # the estimate before the first step is not inside the trainer's epoch timer; the others are
        inside = [r["seconds"] for r in self.rows if r["step"] > 0]
        rest = getattr(self, "train_seconds", 0.0) - sum(inside)
        step_seconds = rest / self.steps if rest > 0 and getattr(self, "steps", 0) else None
        return {"every": self.every, "estimates": len(self.rows), "last": self.rows[-1]["sharpness"],
                "max": max(r["sharpness"] for r in self.rows), "hvps": sum(r["hvps"] for r in self.rows),
                "seconds": spent, "cost_share": sum(inside) / rest if inside and rest > 0 else None,
                "estimate_in_steps": sum(inside) / len(inside) / step_seconds if inside and step_seconds else None}

    def state_dict(self) -> dict[str, Any]:
        """For the trainer's checkpoint: the rows measured so far."""
        return {"rows": list(self.rows)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: the rows measured so far, so the resumed run's file continues them."""
        self.rows = list(state.get("rows", []))
