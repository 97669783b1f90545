"""The weights of every epoch, kept compactly for the loss-landscape tool (``descent lab landscape``).

:class:`EpochWeights` keeps the flattened parameter vector (``model.parameters()`` in order; buffers such as
batch-norm running statistics are not kept) before training (row 0) and after every epoch (row ``e + 1``),
as one ``float16`` matrix (``float32`` if a weight leaves float16's range), in one file ``weights.pt``
rewritten atomically at each epoch's end. float16 keeps about three significant digits, which is ample for
the trajectory's principal directions; the landscape is centred on the checkpoint's full-precision weights.
A resumed run reads the file back and continues it.

>>> import io, tempfile, torch
>>> from pathlib import Path
>>> from types import SimpleNamespace
>>> model = torch.nn.Linear(2, 1)
>>> path = Path(tempfile.mkdtemp()) / "weights.pt"
>>> keeper = EpochWeights(path)
>>> keeper.on_train_begin(SimpleNamespace(model=model, epoch=0))
>>> keeper.on_epoch_end(SimpleNamespace(model=model, epoch=1), 0, {})
>>> kept = load(path)
>>> kept["weights"].shape, kept["epochs"].tolist(), kept["names"]
(torch.Size([2, 3]), [0, 1], ['weight', 'bias'])
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from .._io import write_bytes
from ..errors import DescentError
from .callbacks import Callback

FORMAT = 1
FLOAT16_MAX = 6.0e4


def flat_weights(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter of ``model``, flattened and concatenated in ``parameters()`` order (float32, CPU)."""
    return torch.cat([p.detach().reshape(-1).float().cpu() for p in model.parameters()])


class EpochWeights(Callback):
    """Keep the flat weights at the start and after every epoch in ``path`` (see the module docstring)."""

    name = "epoch_weights"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: list[torch.Tensor] = []
        self.names: list[str] = []

    def on_train_begin(self, trainer: Any) -> None:
        self.names = [name for name, _ in trainer.model.named_parameters()]
        if trainer.epoch > 0 and self.path.is_file():  # a resumed run continues its file
            self.rows = list(load(self.path)["weights"][: trainer.epoch + 1])
        if not self.rows:
            self.rows = [flat_weights(trainer.model)]

    def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
        self.rows.append(flat_weights(trainer.model))
        self.write()

    def write(self) -> None:
        """Rewrite ``path`` atomically with the rows kept so far (float16 when every weight fits)."""
        weights = torch.stack([r.float() for r in self.rows])
        finite = weights[torch.isfinite(weights)]
        if finite.numel() == 0 or float(finite.abs().max()) < FLOAT16_MAX:
            weights = weights.half()
        buffer = io.BytesIO()
        torch.save({"format": FORMAT, "epochs": torch.arange(len(self.rows)), "weights": weights,
                    "names": self.names}, buffer)
        write_bytes(self.path, buffer.getvalue())


def load(path: str | os.PathLike) -> dict[str, Any]:
    """``{"epochs", "weights" (epochs x parameters), "names"}`` of a ``weights.pt``; one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise DescentError(f"no per-epoch weights at {str(p)!r}: runs of descent 0.2 and later keep them")
    try:
        kept = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as e:  # a damaged or foreign file: torch raises many kinds
        raise DescentError(f"{str(p)!r} is not a descent weights file: {type(e).__name__}") from None
    if not isinstance(kept, dict) or kept.get("format") != FORMAT or not isinstance(kept.get("weights"), torch.Tensor):
        raise DescentError(f"{str(p)!r} is not a descent weights file (format {FORMAT})")
    return kept
