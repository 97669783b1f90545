"""`descent lab trajectories`: files written, bad names rejected with exit 2 and one line on stderr."""

from __future__ import annotations

import csv

import pytest

from descent.cli import main


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_scene_writes_png_and_csv(tmp_path, capsys):
    assert main(["lab", "trajectories", "--out", str(tmp_path), "--scene", "zigzag", "--no-gif"]) == 0
    assert (tmp_path / "zigzag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "zigzag.gif").exists()
    rows = _rows(tmp_path / "zigzag.csv")
    assert len(rows) == 2 * 31  # two paths, 30 steps each plus the start
    assert (float(rows[0]["x"]), float(rows[0]["y"])) == (-7.0, 2.0)
    assert "zigzag" in capsys.readouterr().out


def test_custom_function_and_optimizers(tmp_path, capsys):
    argv = ["lab", "trajectories", "--out", str(tmp_path), "--function", "himmelblau", "--optimizers",
            "sgd,adam", "--steps", "5", "--lr", "0.01", "--start", "1,-1", "--noise", "0.1", "--no-gif"]
    assert main(argv) == 0
    rows = _rows(tmp_path / "himmelblau.csv")
    assert [r["label"] for r in rows] == ["sgd"] * 6 + ["adam"] * 6
    assert (float(rows[0]["x"]), float(rows[0]["y"])) == (1.0, -1.0)
    assert (tmp_path / "himmelblau.png").exists()
    out = capsys.readouterr().out
    assert "sgd" in out and "adam" in out


def test_negative_start_on_the_saddle_ridge_keeps_y_zero(tmp_path):
    argv = ["lab", "trajectories", "--out", str(tmp_path), "--function", "saddle", "--start=-5,0",
            "--optimizers", "sgd,momentum,adam", "--steps", "20", "--no-gif"]
    assert main(argv) == 0
    rows = _rows(tmp_path / "saddle.csv")
    assert rows[0]["x"] == "-5.0" and {float(r["y"]) for r in rows} == {0.0}


def test_one_tiny_gif(tmp_path):
    argv = ["lab", "trajectories", "--out", str(tmp_path), "--optimizers", "sgd", "--steps", "3"]
    assert main(argv) == 0
    assert (tmp_path / "quadratic.gif").read_bytes()[:6] == b"GIF89a"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize(("argv", "message"), [
    (["--function", "nope"], "unknown function 'nope'; choose from quadratic"),
    (["--scene", "nope"], "unknown scene 'nope'; choose from zigzag"),
    (["--optimizers", "sgd,nope"], "unknown optimizer 'nope'; choose from sgd"),
    (["--scene", "saddle", "--function", "beale"], "--scene fixes its own paths"),
    (["--start", "1"], "expected a point X,Y"),
    (["--steps", "-3"], "invalid --steps='-3': must be a positive integer"),
])
def test_bad_values_exit_2_with_one_line(tmp_path, capsys, argv, message):
    try:
        code = main(["lab", "trajectories", "--out", str(tmp_path / "out"), *argv])
    except SystemExit as e:  # argparse rejects malformed values itself, with the same status
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
