"""Search workers sharing one study: N processes on a journal file (--workers N), and independent workers on a
real PostgreSQL server (one of them killed mid-trial), with Optuna's heartbeat on every storage."""

from __future__ import annotations

import csv
import math
import os
import signal
import time
import warnings
from pathlib import Path

import optuna
import pytest
from launched import descent, finish, wait_for

from descent.search.study import open_storage

TRAINING = ["--data", "spiral", "--model", "mlp", "--threads", "1", "--optimizer", "momentum"]


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_workers_share_a_journal_study_and_never_train_a_grid_point_twice(tmp_path):
    out = tmp_path / "search"
    code, stdout, err = finish(descent("search", "--workers", 2, "--method", "grid", "--trials", 4, "--out", out,
                                       "--space", "lr=1e-3:1e-1:log,momentum=0.5:0.9", "--epochs", 1, *TRAINING))
    assert code == 0, err[-2000:]
    assert "by 2 workers" in stdout and (out / "study.journal").is_file()
    rows = _rows(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4
    points = {(float(r["lr"]), float(r["momentum"])) for r in rows}
    assert len(points) == 4  # the 2 x 2 grid, each point trained once
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"search-{k:04d}" for k in range(4)]
    assert all((out / "trials" / f"search-{k:04d}" / "metrics.json").is_file() for k in range(4))
    # a plain re-run (one worker) continues the same journal study
    code, _, err = finish(descent("search", "--method", "grid", "--trials", 1, "--out", out, "--space",
                                  "lr=1e-3:1e-1:log,momentum=0.5:0.9", "--epochs", 1, *TRAINING))
    assert code == 0, err[-2000:]
    assert len(_rows(out)) == 5


@pytest.mark.slow
def test_two_workers_on_postgres_one_killed_mid_trial(tmp_path, postgres_url):
    """Worker B dies in its second trial: worker A fails it once its heartbeat is stale, re-runs it, and
    leaves the whole study in both results.csv files; every finished trial is kept, none is run twice."""
    common = ["--storage", postgres_url, "--heartbeat", 1, "--epochs", 6, "--space", "lr=1e-3:1e-1:log",
              *TRAINING]
    a_out, b_out = tmp_path / "a", tmp_path / "b"
    b = descent("search", "--trials", 3, "--out", b_out, *common)  # dies in its second trial
    wait_for(lambda: (b_out / "results.csv").exists() or b.poll() is not None, what="worker B's first trial")
    a = descent("search", "--trials", 2, "--out", a_out, *common)

    def b_in_second_trial() -> bool:
        started = list((b_out / "trials").glob("search-*"))
        return b.poll() is not None or any(not (d / "metrics.json").exists() for d in started) and len(started) > 1

    wait_for(b_in_second_trial, what="worker B inside its second trial")
    assert b.poll() is None, "worker B finished before it could be killed"
    b.send_signal(signal.SIGKILL)
    b.wait(timeout=30)
    code, stdout, err = finish(a)
    assert code == 0, err[-2000:]
    rows = _rows(a_out)
    failed = [r for r in rows if r["state"] == "FAIL"]
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert len(failed) == 1 and failed[0]["retried_as"], rows
    (retry,) = [r for r in complete if r["trial"] == failed[0]["retried_as"]]
    assert math.isclose(float(retry["lr"]), float(failed[0]["lr"]))
    assert len(complete) == 2 + 1 + 1  # A's two, B's finished first trial, the re-run of B's second
    assert len({r["lr"] for r in complete}) == len(complete)  # no point trained twice
    assert _rows(b_out) == rows  # the dead worker's results.csv reflects the whole study too


@pytest.mark.parametrize("kind", ["sqlite", "journal", "postgresql"])
def test_a_trial_killed_before_its_first_heartbeat_goes_stale_and_is_retried(tmp_path, kind, request):
    """Optuna's RDBStorage never takes a RUNNING trial without a heartbeat as stale; ours do, on every storage."""
    url = {"sqlite": f"sqlite:///{tmp_path}/study.db", "journal": f"journal:{tmp_path}/study.journal",
           "postgresql": request.getfixturevalue("postgres_url") if kind == "postgresql" else ""}[kind]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=open_storage(url, heartbeat=1), study_name="stale")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Heartbeat ... used with Study.optimize": ask on purpose
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.ask({"lr": optuna.distributions.FloatDistribution(0.0, 1.0)})  # RUNNING; its worker "dies" here
        time.sleep(3.3)  # grace: 3 heartbeats
        optuna.storages.fail_stale_trials(study)
    dead, retry = study.get_trials()
    assert (dead.state, retry.state) == (optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING)
    assert retry.params == dead.params and retry.system_attrs["failed_trial"] == dead.number


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.slow
def test_a_worker_killed_mid_trial_on_the_journal_is_retried_by_the_other(tmp_path):
    """--workers 2 on the journal file: a worker SIGKILLed inside a trial; the journal's heartbeat makes the
    trial stale, the other worker re-runs it; the search says which worker died and exits 1."""
    out = tmp_path / "search"
    job = descent("search", "--workers", 2, "--trials", 4, "--heartbeat", 1, "--out", out, "--epochs", 30,
                  "--space", "lr=1e-3:1e-1:log", *TRAINING)

    def mid_trial() -> list[int]:
        started = list((out / "trials").glob("search-*")) if (out / "trials").is_dir() else []
        running = [d for d in started if not (d / "metrics.json").exists()]
        workers = _children(job.pid)
        return workers if len(running) == 2 and len(workers) >= 3 else []  # the resource tracker, 2 workers

    workers = wait_for(mid_trial, what="both workers inside a trial")
    os.kill(max(workers), signal.SIGKILL)  # the last one spawned is a worker (the resource tracker is first)
    code, stdout, err = finish(job)
    assert code == 1 and "died" in err.strip().splitlines()[-1], err[-2000:]
    rows = _rows(out)
    assert {r["state"] for r in rows} <= {"COMPLETE", "FAIL"}
    failed = [r for r in rows if r["state"] == "FAIL"]
    assert len(failed) == 1 and failed[0]["retried_as"], rows
    (retry,) = [r for r in rows if r["trial"] == failed[0]["retried_as"]]
    assert retry["state"] == "COMPLETE" and math.isclose(float(retry["lr"]), float(failed[0]["lr"]))
