"""Checkpoints: one file holding model, optimizer, learning-rate state, RNG states, epoch, history and config.

The file is a ``torch.save`` of ``{"format", "sha256", "payload"}``, where ``payload`` holds the bytes of a
second ``torch.save`` (the checkpoint proper) and ``sha256`` their SHA-256. torch does not verify its zip
records' checksums, so without this a flipped byte could load as silently different weights; here it is a
one-line error. Both levels load with ``torch.load(weights_only=True)``: a checkpoint can never run code,
and one that tries is refused as such. Written atomically (temporary file, fsync, rename), so a crash
mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_open
from ..errors import DescentError

FORMAT = 2


def save(path: str | os.PathLike, config: dict[str, Any], trainer_state: dict[str, Any]) -> None:
    """Write ``config`` and a trainer's ``state_dict()`` to ``path`` as one checksummed checkpoint, atomically."""
    inner = io.BytesIO()
    torch.save({"config": config, "model": trainer_state["model"], "trainer": trainer_state}, inner)
    data = inner.getvalue()
    outer = {"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(),
             "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}
    with atomic_open(path, "wb") as f:
        torch.save(outer, f)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's ``{"config", "model", "trainer"}``; a missing, damaged, foreign or code-carrying file is
    one line of :class:`DescentError` saying which."""
    p = Path(path)
    if not p.is_file():
        raise DescentError(f"no checkpoint at {str(p)!r}")
    outer = _torch_load(p, p)
    if not isinstance(outer, dict) or outer.get("format") != FORMAT or not {"sha256", "payload"} <= outer.keys():
        raise DescentError(f"{str(p)!r} is not a descent checkpoint (format {FORMAT})")
    payload = outer["payload"]
    if not isinstance(payload, torch.Tensor) or payload.dtype != torch.uint8:
        raise DescentError(f"{str(p)!r} is not a descent checkpoint (format {FORMAT})")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != outer["sha256"]:
        raise DescentError(f"checkpoint {str(p)!r} is damaged: its content does not match its SHA-256 checksum")
    inner = _torch_load(io.BytesIO(data), p)
    if not isinstance(inner, dict) or not {"config", "model", "trainer"} <= inner.keys():
        raise DescentError(f"{str(p)!r} is not a descent checkpoint (format {FORMAT})")
    return inner


def _torch_load(source: Any, p: Path) -> Any:
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for damaged files; weights_only refusals are one kind
        text = str(e)
        found = re.search(r"GLOBAL ([\w.]+)", text)  # weights_only refused to import a class or function
        # a name of torch's own that torch does not allow is a damaged name (a flipped byte), not a payload
        if found and not found.group(1).startswith(("torch.", "collections.", "builtins.")):
            what = f" ({found.group(1)})"
            raise DescentError(f"checkpoint {str(p)!r} contains code{what} and was not loaded: a descent "
                               "checkpoint holds only tensors and plain values") from None
        raise DescentError(f"checkpoint {str(p)!r} is damaged: truncated, or not written by torch.save") from None
