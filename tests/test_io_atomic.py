"""Atomic writes rename the temporary file only once its whole content is on disk (flushed, not sitting in a
Python buffer, and fsync'ed): a spy on ``os.replace`` reads the temporary file at rename time and compares it
with the content being written, checks that the file was fsync'ed before with all that content, then does
the real rename.

(The content check alone cannot see a rename-before-flush when nothing is left in Python's buffer: one write
larger than the buffer goes straight to the OS, and torch.save flushes its file itself. The fsync check sees
it in every case.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from descent import _io
from descent.train import checkpoint


@pytest.fixture
def renames(monkeypatch):
    """Replace ``os.replace`` and ``os.fsync`` (which ``descent._io`` calls through the ``os`` module) with
    spies; returns the list of (source, target, bytes of the source at rename time)."""
    seen: list[tuple[Path, Path, bytes]] = []
    synced: dict[tuple[int, int], int] = {}  # (device, inode) of every file fsync'ed so far -> its size then
    real_replace, real_fsync = os.replace, os.fsync

    def fsync_spy(fd):
        st = os.fstat(fd)
        real_fsync(fd)
        synced[st.st_dev, st.st_ino] = st.st_size

    def replace_spy(src, dst, *args, **kwargs):
        st = os.stat(src)
        assert (st.st_dev, st.st_ino) in synced, f"{src} renamed onto {dst} before it was fsync'ed"
        content = Path(src).read_bytes()
        assert synced[st.st_dev, st.st_ino] == len(content), "fsync'ed before all the content was flushed"
        seen.append((Path(src), Path(dst), content))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(_io.os, "fsync", fsync_spy)
    monkeypatch.setattr(_io.os, "replace", replace_spy)
    return seen


def _text(size: int) -> str:
    line = "0123456789 abcdefghijklmnopqrstuvwxyz é\n"  # one non-ASCII character: bytes != characters
    return (line * (size // len(line) + 1))[:size]


# sizes: smaller than the 8 KiB io buffer (all of it would still be buffered), and 1 MB (the tail would be)
SIZES = [3000, 1_000_003]


@pytest.mark.parametrize("size", SIZES)
def test_write_text_renames_complete_content(tmp_path, renames, size):
    text = _text(size)
    _io.write_text(tmp_path / "a.txt", text)
    ((src, dst, at_rename),) = renames
    assert dst == tmp_path / "a.txt" and src.parent == tmp_path and src != dst
    assert at_rename == text.encode("utf-8")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == text


@pytest.mark.parametrize("size", SIZES)
def test_write_bytes_renames_complete_content(tmp_path, renames, size):
    payload = bytes(range(256)) * (size // 256) + b"tail"
    _io.write_bytes(tmp_path / "a.bin", payload)
    ((_, dst, at_rename),) = renames
    assert dst == tmp_path / "a.bin"
    assert at_rename == payload
    assert (tmp_path / "a.bin").read_bytes() == payload


@pytest.mark.parametrize("size", SIZES)
def test_write_json_renames_complete_content(tmp_path, renames, size):
    import json

    obj = {"text": _text(size), "numbers": list(range(100))}
    _io.write_json(tmp_path / "a.json", obj)
    ((_, dst, at_rename),) = renames
    assert dst == tmp_path / "a.json"
    assert json.loads(at_rename.decode("utf-8")) == obj
    assert at_rename == (tmp_path / "a.json").read_bytes()


def test_write_csv_renames_complete_content(tmp_path, renames):
    rows = [{"step": i, "loss": 1.0 / (i + 1)} for i in range(20_000)]
    _io.write_csv(tmp_path / "a.csv", rows)
    ((_, dst, at_rename),) = renames
    lines = at_rename.decode("utf-8").splitlines()
    assert lines[0] == "step,loss" and len(lines) == len(rows) + 1
    assert lines[-1] == f"{rows[-1]['step']},{rows[-1]['loss']}"
    assert at_rename == (tmp_path / "a.csv").read_bytes()


def test_checkpoint_save_renames_complete_content(tmp_path, renames):
    state = {"model": {"w": torch.arange(300_000, dtype=torch.float32).reshape(600, 500), "b": torch.ones(7)},
             "step": 3, "history": [{"epoch": 0, "lr": 0.1}]}
    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, {"seed": 0}, state)
    ((_, dst, at_rename),) = renames
    assert dst == path
    assert at_rename == path.read_bytes()  # nothing was appended after the rename
    loaded = checkpoint.load(path)
    torch.testing.assert_close(loaded["model"]["w"], state["model"]["w"])
    torch.testing.assert_close(loaded["model"]["b"], state["model"]["b"])
