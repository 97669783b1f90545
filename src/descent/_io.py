"""Atomic file output: write to a temporary file in the same folder, then rename over the target.

A crash (or Ctrl-C) mid-write leaves either the old file or the new one, never half of one. The temporary
file is named ``.<target>.descent-<pid>.<random>.tmp``; a killed process leaves it behind, and the next
:func:`ensure_dir` of that folder (every run, resume, report) removes those whose process is gone.

JSON is strict (``JSON.parse`` and every browser read it): a NaN or infinite number is written as ``null``
and its JSON path and value listed under ``"non_finite"``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import DescentError


def ensure_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) and check it is writable, with a one-line error if not; remove the
    temporary files that killed descent processes left there."""
    if str(path) == "":
        raise DescentError("invalid output folder '': must name a folder (use '.' for the current one)")
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DescentError(f"cannot create output folder {str(p)!r}: {e.strerror or e}") from None
    if not os.access(p, os.W_OK):
        raise DescentError(f"output folder {str(p)!r} is not writable")
    remove_stale_temporaries(p)
    return p


_TEMPORARY = re.compile(r"^\..+\.descent-(?P<pid>\d+)\.[^.]+\.tmp$")


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Delete ``folder``'s temporary files of :func:`atomic_open` whose writing process no longer runs."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = _TEMPORARY.match(name)
        if found and not _alive(int(found["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
                removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success fsync and rename it onto ``path``."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.descent-{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would have
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Strict JSON: non-finite numbers become null, listed with their path under ``"non_finite"``."""
    found: dict[str, str] = {}
    clean = _finite(json.loads(json.dumps(obj, default=_json_default)), "", found)
    if found and isinstance(clean, dict):
        clean["non_finite"] = found
    write_text(path, json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n")


def _finite(o: Any, where: str, found: dict[str, str]) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        found[where or "$"] = repr(o)
        return None
    if isinstance(o, dict):
        return {k: _finite(v, f"{where}.{k}" if where else str(k), found) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v, f"{where}[{i}]", found) for i, v in enumerate(o)]
    return o


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_figure(fig: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """Save a matplotlib figure atomically (format from the suffix)."""
    target = Path(path)
    fmt = target.suffix.lstrip(".") or "png"
    with atomic_open(target, "wb") as f:
        fig.savefig(f, format=fmt, **kwargs)


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]], fieldnames: list[str] | None = None) -> None:
    import csv

    if fieldnames is None:
        fieldnames = []
        for row in rows:
            fieldnames += [k for k in row if k not in fieldnames]
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fieldnames)
        w.writeheader()
        for row in rows:
            w.writerow(row)
