"""Checkpoints: one file holding model, optimizer, scheduler, RNG states, epoch, history and config.

Written atomically (temporary file, fsync, rename), so a crash mid-write leaves the previous checkpoint
intact; loaded with ``torch.load(weights_only=True)``, so a checkpoint can never run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_open
from ..errors import DescentError

FORMAT = 1


def save(path: str | os.PathLike, config: dict[str, Any], trainer_state: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "config": config, "model": trainer_state["model"], "trainer": trainer_state}
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint safely; a missing, truncated or foreign file is a one-line DescentError."""
    p = Path(path)
    if not p.is_file():
        raise DescentError(f"no checkpoint at {str(p)!r}")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for damaged files; all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DescentError(f"checkpoint {str(p)!r} is truncated or corrupted ({reason[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "trainer" not in payload:
        raise DescentError(f"{str(p)!r} is not a descent checkpoint (format {FORMAT})")
    return payload
