"""Atomic output: a failure mid-write leaves the old file (or none) and no temporary; modes as open() gives."""

from __future__ import annotations

import os

import pytest

from descent import _io
from descent.errors import DescentError


def test_failure_mid_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    _io.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with _io.atomic_open(target, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_mode_is_what_open_would_give(tmp_path):
    _io.write_text(tmp_path / "a.txt", "x")
    with open(tmp_path / "b.txt", "w") as f:
        f.write("x")
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DescentError, match="cannot create output folder"):
        _io.ensure_dir(blocker / "sub")
