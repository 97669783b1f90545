"""`descent lab schedules`: files written, curves following their formulas, one-line errors."""

from __future__ import annotations

import csv
import math
import re

import pytest

import descent.cli as cli


@pytest.fixture
def descent(monkeypatch):
    """`descent ...` with only the lab sub-commands registered (the others are not this test's business)."""
    monkeypatch.setattr(cli, "COMMANDS", ("lab",))
    return cli.main


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_default_set_is_drawn_and_tabulated(descent, tmp_path, capsys):
    assert descent(["lab", "schedules", "--out", str(tmp_path / "o"), "--steps", "40", "--lr", "0.2"]) == 0
    png = (tmp_path / "o" / "schedules.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    rows = read_csv(tmp_path / "o" / "schedules.csv")
    assert [int(r["t"]) for r in rows] == list(range(40))
    columns = list(rows[0])[1:]
    assert len(columns) == 8 and not list(tmp_path.glob("o/.*.tmp"))
    # Two columns checked against the lecture's formulas with the constants read from their headers.
    exp = next(c for c in columns if c.startswith("exp:k="))
    inv = next(c for c in columns if c.startswith("invtime:k="))
    k_exp, k_inv = float(exp.split("=")[1]), float(inv.split("=")[1])
    for t, row in enumerate(rows):
        assert float(row[exp]) == pytest.approx(0.2 * math.exp(-k_exp * t), rel=1e-12)
        assert float(row[inv]) == pytest.approx(0.2 / (1 + k_inv * t), rel=1e-12)
        assert float(row["constant"]) == 0.2
    assert "schedules.png" in capsys.readouterr().out


def test_own_schedules(descent, tmp_path):
    argv = ["lab", "schedules", "--out", str(tmp_path), "--steps", "12", "--lr", "0.4",
            "--schedule", "step:every=5,factor=0.5", "--schedule", "warmup=4+cosine"]
    assert descent(argv) == 0
    rows = read_csv(tmp_path / "schedules.csv")
    assert [float(r["step:every=5,factor=0.5"]) for r in rows] == [0.4 * 0.5 ** (t // 5) for t in range(12)]
    warm = [float(r["warmup=4+cosine"]) for r in rows]
    assert warm[:5] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert warm[8] == pytest.approx(0.2)   # halfway through the 8 remaining cosine steps


@pytest.mark.parametrize("argv, message", [
    (["--schedule", "linear"], "unknown schedule 'linear'"),
    (["--schedule", "step:every=10,factor=2"], r"invalid factor=2\.0: must be in \(0, 1\]"),
    (["--schedule", "exp:rate=1"], "unknown key 'rate'"),
    (["--steps", "5"], "--steps must be at least 10"),
])
def test_user_errors_are_one_line(descent, tmp_path, capsys, argv, message):
    assert descent(["lab", "schedules", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("descent lab: error: ") and re.search(message, err)


@pytest.mark.parametrize("argv", [["--lr", "0"], ["--lr", "-1"], ["--steps", "0"]])
def test_bad_numbers_are_rejected_by_the_parser(descent, tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as stop:
        descent(["lab", "schedules", "--out", str(tmp_path), *argv])
    assert stop.value.code == 2 and "error:" in capsys.readouterr().err


def test_help_shows_the_spelling(descent, capsys):
    with pytest.raises(SystemExit):
        descent(["lab", "schedules", "--help"])
    assert "warmup=5+cosine" in capsys.readouterr().out
