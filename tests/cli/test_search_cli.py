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


KILL_AFTER_TRAINING = """
import os, signal, sys
import descent.cli.search as search
from descent.cli import main

trained = search.run_training

def train_then_die(config, folder, *args, **kwargs):
    metrics = trained(config, folder, *args, **kwargs)
    if folder.name == sys.argv[1]:  # the training finished and metrics.json is on disk: die before Optuna hears
        os.kill(os.getpid(), signal.SIGKILL)
    return metrics

search.run_training = train_then_die
sys.exit(main(sys.argv[2:]))
"""


def _worker(*argv, env=None):
    import os
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run([sys.executable, "-c", KILL_AFTER_TRAINING, *map(str, argv)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": src})


def test_a_trial_whose_worker_died_after_training_is_recorded_not_retrained(tmp_path, run_cli):
    """Fault injection: the worker is SIGKILLed after trial 1's training wrote its metrics.json, before the
    study heard of it. A later run records that result from the folder without training it again."""
    space = "lr=1e-3:1e-1:log"
    died = _worker("search-0001", "search", "--out", tmp_path, "--trials", "3", "--space", space,
                   "--heartbeat", "1", *FAST)
    assert died.returncode == -9, died.stderr
    finished = tmp_path / "trials" / "search-0001" / "metrics.json"
    metrics = json.loads(finished.read_text())
    written = finished.stat().st_mtime_ns
    code, out, err = run_cli("search", "--out", tmp_path, "--trials", "1", "--space", space, "--heartbeat", "1",
                             *FAST)
    assert code == 0, err
    rows = {int(r["trial"]): r for r in _rows(tmp_path / "results.csv")}
    assert rows[1]["state"] == "FAIL"  # the dead trial, failed by its stale heartbeat ...
    retry = rows[int(rows[1]["retried_as"])]  # ... and the trial that took its place
    assert retry["state"] == "COMPLETE" and int(retry["recovered_from"]) == 1
    assert retry["label"] == "search-0001" and float(retry["lr"]) == pytest.approx(float(rows[1]["lr"]))
    assert float(retry["value"]) == pytest.approx(metrics["val_accuracy"])
    assert finished.stat().st_mtime_ns == written  # recorded from the folder, not trained again
    assert not (tmp_path / "trials" / f"search-{int(rows[1]['retried_as']):04d}").exists()
    # trials 0 and the recovered one, plus the one new trial the re-run was asked for
    assert sum(r["state"] == "COMPLETE" for r in rows.values()) == 3


def test_workers_sharing_a_study_each_end_with_the_whole_study(tmp_path):
    """Two real `descent search` processes, separate folders, one --storage: both results.csv hold all trials."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    workers = [subprocess.Popen([sys.executable, "-m", "descent", "search", "--out", str(tmp_path / f"w{i}"),
                                 "--trials", str(2 + 2 * i), "--storage", url, "--space", "lr=1e-3:1e-1:log",
                                 "--heartbeat", "1", *FAST], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0], [w.stderr.read() for w in workers]
    first, second = (_rows(tmp_path / f"w{i}" / "results.csv") for i in range(2))
    assert len(first) == len(second) == 6 and all(r["state"] == "COMPLETE" for r in first)
    assert sorted(r["trial"] for r in first) == sorted(r["trial"] for r in second)
