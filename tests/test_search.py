"""Random / grid search machinery on a cheap synthetic objective (no training)."""

from __future__ import annotations

import csv
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from descent.errors import DescentError
from descent.search import Dimension, grid_points, narrow, parse_space, run_search


def peak(params, label):
    """Validation accuracy peaks at lr = 1e-2 and barely depends on momentum."""
    return 1.0 - abs(math.log10(params["lr"]) + 2.0) / 3.0 - 0.01 * abs(params.get("momentum", 0.9) - 0.9)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_parse_space() -> None:
    space = parse_space("lr=1e-4:1e-1:log, momentum=0.8:0.99 ,batch_size=16:256:log,optimizer=sgd|adam",
                        known={"lr": float, "momentum": float, "batch_size": int, "optimizer": str})
    assert space["lr"] == Dimension("lr", 1e-4, 1e-1, log=True)
    assert space["momentum"] == Dimension("momentum", 0.8, 0.99)
    assert space["batch_size"].integer and space["batch_size"].log
    assert space["optimizer"].choices == ("sgd", "adam")


@pytest.mark.parametrize("spec, message", [
    ("", "empty search space"), (" , ", "empty search space"),
    ("lr=1e-4:1e-1:log,foo=1:2", "unknown search parameter 'foo'"),
    ("lr=1e-1:1e-4", "low < high"), ("lr=0:1:log", "log range needs low > 0"),
    ("lr=a:b", "not a numeric range"), ("lr", "name=low:high"), ("lr=1:2:cubic", "low:high"),
    ("lr=1:2,lr=2:3", "given twice"),
])
def test_parse_space_errors(spec: str, message: str) -> None:
    with pytest.raises(DescentError, match=message):
        parse_space(spec, known={"lr": float, "momentum": float})


def test_grid_values_are_log_spaced() -> None:
    lr = Dimension("lr", 1e-4, 1e-1, log=True)
    np.testing.assert_allclose(lr.grid(4), np.logspace(-4, -1, 4), rtol=1e-12)
    assert lr.grid(4)[0] == 1e-4 and lr.grid(4)[-1] == 1e-1  # the ends exactly
    np.testing.assert_allclose(Dimension("m", 0.8, 0.99).grid(3), np.linspace(0.8, 0.99, 3))
    assert Dimension("w", 1, 4, integer=True).grid(7) == [1, 2, 3, 4]
    assert grid_points({"a": lr, "b": lr}, 9) == 3 and grid_points({"a": lr}, 9) == 9


def test_narrow_around_best() -> None:
    space = {"lr": Dimension("lr", 1e-4, 1e-1, log=True), "opt": Dimension("opt", choices=("sgd", "adam"))}
    params = [{"lr": 1e-4, "opt": "sgd"}, {"lr": 1e-3, "opt": "adam"}, {"lr": 1e-2, "opt": "adam"},
              {"lr": 1e-1, "opt": "sgd"}]
    fine = narrow(space, params, [0.1, 0.8, 0.9, 0.2], top=0.25, pad=0.5)
    # best two: lr 1e-3 and 1e-2 -> log10 range [-3, -2] widened by half its width on each side
    assert fine["lr"].low == pytest.approx(10**-3.5) and fine["lr"].high == pytest.approx(10**-1.5)
    assert fine["opt"].choices == ("adam",)


def test_random_search_finds_the_peak_and_resumes(tmp_path: Path) -> None:
    space = parse_space("lr=1e-4:1e-1:log,momentum=0.8:0.99")
    rows = run_search(peak, space, tmp_path, trials=6, method="random", seed=1)
    assert len(rows) == 6 and all(r["state"] == "COMPLETE" for r in rows)
    for r in rows:
        assert r["value"] == pytest.approx(peak(r, ""))
        assert 1e-4 <= r["lr"] <= 1e-1 and 0.8 <= r["momentum"] <= 0.99
    first = {r["lr"] for r in rows}
    rows = run_search(peak, space, tmp_path, trials=4, method="random", seed=1)
    assert len(rows) == 10 and len({r["lr"] for r in rows}) == 10  # a re-run draws new points
    assert first <= {r["lr"] for r in rows}
    assert len(_rows(tmp_path / "results.csv")) == 10 and (tmp_path / "study.db").is_file()


def test_grid_search_visits_the_grid_then_refines(tmp_path: Path) -> None:
    space = parse_space("lr=1e-4:1e-1:log,momentum=0.8:0.99")
    calls = []

    def objective(params, label):
        calls.append(label)
        return peak(params, label)

    rows = run_search(objective, space, tmp_path, trials=4, method="grid")
    grid = {(lr, m) for lr in (1e-4, 1e-1) for m in (0.8, 0.99)}
    got = {(r["lr"], r["momentum"]) for r in rows}
    assert len(got) == 4 and all(any(np.allclose(g, p) for p in grid) for g in got)
    # a re-run refines to the nested 3 x 3 grid; its 4 old points are not trained again
    rows = run_search(objective, space, tmp_path, trials=9, method="grid")
    assert len(rows) == 13 and len(calls) == 4 + 5 and len(set(calls)) == 9
    assert all(c.startswith("search-") for c in calls)
    assert sum(r.get("repeat_of") is not None for r in rows) == 4
    fine = {(lr, m) for lr in np.logspace(-4, -1, 3) for m in np.linspace(0.8, 0.99, 3)}
    assert all(any(np.allclose((r["lr"], r["momentum"]), p) for p in fine) for r in rows)


def test_coarse_to_fine_narrows(tmp_path: Path) -> None:
    space = parse_space("lr=1e-5:1e0:log")
    rows = run_search(peak, space, tmp_path, trials=12, coarse_to_fine=True, seed=3)
    coarse = [r for r in rows if r["study"] == "search"]
    fine = [r for r in rows if r["study"] == "search-fine"]
    assert len(coarse) == 6 and len(fine) == 6
    spread = lambda rs: np.ptp([math.log10(r["lr"]) for r in rs])  # noqa: E731
    assert spread(fine) < spread(coarse)
    assert max(r["value"] for r in fine) >= max(r["value"] for r in coarse) - 0.05


def test_bad_storage_and_method(tmp_path: Path) -> None:
    space = parse_space("lr=1e-4:1e-1:log")
    with pytest.raises(DescentError, match="cannot open storage"):
        run_search(peak, space, tmp_path, 1, storage=f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(DescentError, match="storage"):
        run_search(peak, space, tmp_path, 1, storage="nosuchdb://host/x")
    with pytest.raises(DescentError, match="unknown search method 'bayes'"):
        run_search(peak, space, tmp_path, 1, method="bayes")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_search_leaves_a_study_that_resumes(tmp_path: Path) -> None:
    """SIGKILL a search mid-trial; the study on disk stays readable and a re-run adds its trials."""
    script = textwrap.dedent(f"""
        import math, time
        from descent.search import parse_space, run_search
        def slow(params, label):
            time.sleep(0.15)
            return 1.0 - abs(math.log10(params["lr"]) + 2.0) / 3.0
        run_search(slow, parse_space("lr=1e-4:1e-1:log"), {str(tmp_path)!r}, trials=1000, heartbeat=1)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    db = tmp_path / "study.db"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _completed_in_db(db) < 3:
            time.sleep(0.05)
        time.sleep(0.07)  # land inside a trial
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = _completed_in_db(db)
    running = _in_db(db, "SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'")  # 0 if it died between trials
    assert before >= 3 and running <= 1
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = run_search(peak, parse_space("lr=1e-4:1e-1:log"), tmp_path, trials=2, heartbeat=1)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    # the killed trial is failed once its heartbeat is stale and re-run besides the 2 new trials
    assert len(complete) == before + 2 + running
    killed = [r for r in rows if r["state"] != "COMPLETE"]
    assert len(killed) == running and all(r["state"] == "FAIL" for r in killed)
    for dead in killed:
        retry = next(r for r in rows if r["trial"] == dead["retried_as"])
        assert retry["state"] == "COMPLETE" and retry["lr"] == dead["lr"] and "recovered_from" not in retry
    assert len(_rows(tmp_path / "results.csv")) == len(rows)


def _completed_in_db(db: Path) -> int:
    return _in_db(db, "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'")


def test_two_workers_share_one_study(tmp_path: Path) -> None:
    """Two processes on one --storage: their trials land in one study and never draw the same point."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = textwrap.dedent(f"""
        import sys, math
        from descent.search import parse_space, run_search
        run_search(lambda p, label: -abs(math.log10(p["lr"]) + 2), parse_space("lr=1e-4:1e-1:log"),
                   sys.argv[1], trials=3, storage={url!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"w{i}")], env=env)
               for i in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    rows = run_search(peak, parse_space("lr=1e-4:1e-1:log"), tmp_path / "w2", trials=1, storage=url)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    assert len(complete) == 7 and len({r["lr"] for r in complete}) == 7


def test_a_worker_waits_for_the_running_trials_of_its_peers(tmp_path: Path) -> None:
    """A worker that finishes its own trials first returns the peer's trial complete, not RUNNING."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = textwrap.dedent(f"""
        import time
        from descent.search import parse_space, run_search
        def slow(params, label):
            time.sleep(4)
            return 0.5
        run_search(slow, parse_space("lr=1e-4:1e-1:log"), {str(tmp_path / 'slow')!r}, trials=1, storage={url!r},
                   heartbeat=1)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    peer = subprocess.Popen([sys.executable, "-c", script], env=env)
    db = tmp_path / "shared.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _in_db(db, "SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'") < 1:
        time.sleep(0.05)
    rows = run_search(peak, parse_space("lr=1e-4:1e-1:log"), tmp_path / "fast", trials=1, storage=url,
                      heartbeat=1)
    assert peer.wait(timeout=60) == 0
    assert sorted(r["state"] for r in rows) == ["COMPLETE", "COMPLETE"]
    assert 0.5 in [r["value"] for r in rows]  # the peer's trial, finished


def test_the_last_worker_rewrites_every_workers_results(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    space = parse_space("lr=1e-4:1e-1:log")
    run_search(peak, space, tmp_path / "a", trials=2, storage=url, heartbeat=1)
    assert len(_rows(tmp_path / "a" / "results.csv")) == 2
    run_search(peak, space, tmp_path / "b", trials=3, storage=url, heartbeat=1)
    assert len(_rows(tmp_path / "a" / "results.csv")) == 5 == len(_rows(tmp_path / "b" / "results.csv"))


def _in_db(db: Path, query: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute(query).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
