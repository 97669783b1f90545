"""`descent search`: trials of real (tiny) training runs in a resumable study; bad input exits 2."""

from __future__ import annotations

import csv
import json
import math

import pytest

FAST = ["--data", "spiral", "--model", "mlp", "--epochs", "1", "--no-progress"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_random_search_runs_and_resumes(tmp_path, run_cli):
    space = "lr=1e-3:1e-1:log,weight_decay=1e-6:1e-3:log"
    code, out, err = run_cli("search", "--out", tmp_path, "--trials", "3", "--space", space, *FAST)
    assert code == 0, err
    rows = _rows(tmp_path / "results.csv")
    assert len(rows) == 3 and all(r["state"] == "COMPLETE" for r in rows)
    for r in rows:
        assert 1e-3 <= float(r["lr"]) <= 1e-1 and 1e-6 <= float(r["weight_decay"]) <= 1e-3
        metrics = json.loads((tmp_path / "trials" / f"search-{int(r['trial']):04d}" / "metrics.json").read_text())
        # the trial trained with its params
        assert metrics["config"]["optimizer"]["lr"] == pytest.approx(float(r["lr"]))
        assert float(r["value"]) == pytest.approx(metrics["val_accuracy"])
    assert (tmp_path / "scatter.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "study.db").is_file()
    assert "best of 3 trials" in out and "report.html" in out
    code, out, err = run_cli("search", "--out", tmp_path, "--trials", "2", "--space", space, *FAST)
    assert code == 0, err
    assert len(_rows(tmp_path / "results.csv")) == 5  # added to the same study


def test_grid_search_uses_the_grid(tmp_path, run_cli):
    code, _, err = run_cli("search", "--out", tmp_path, "--trials", "4", "--method", "grid",
                           "--space", "lr=1e-3:1e-1:log,batch_size=16:64", *FAST)
    assert code == 0, err
    got = {(float(r["lr"]), int(r["batch_size"])) for r in _rows(tmp_path / "results.csv")}
    assert len(got) == 4
    for lr, bs in got:
        assert any(math.isclose(lr, g) for g in (1e-3, 1e-1)) and bs in (16, 64)


@pytest.mark.parametrize("argv, needle", [
    (["--space", ""], "empty search space"),
    (["--space", "lr=1e-3:1e-1:log,colour=1:2"], "unknown search parameter 'colour'"),
    (["--space", "lr=1:0.1"], "low < high"),
    (["--storage", "sqlite:////nonexistent/dir/study.db"], "cannot open storage"),
    (["--storage", "nosuchdb://localhost/x"], "storage"),
    (["--method", "bayes"], "invalid --method='bayes': must be one of random, grid"),
    (["--trials", "0"], "invalid --trials='0': must be a positive integer"),
])
def test_search_bad_input(tmp_path, run_cli, argv, needle):
    code, _, err = run_cli("search", "--out", tmp_path / "out", "--trials", "1", *FAST, *argv)
    assert code == 2 and needle in err, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_search_unwritable_output(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("search", "--out", tmp_path / "file" / "out", "--trials", "1", *FAST)
    assert code == 2 and "cannot create output folder" in err
