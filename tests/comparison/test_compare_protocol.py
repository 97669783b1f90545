"""descent.compare: the best lr is one of its trials, the same call gives the same table, a re-run resumes
from its study, and the user's own model and data files work (or fail in one line)."""

from __future__ import annotations

import csv

import pytest

import descent
from descent.comparison.space import LR_FACTOR
from descent.optim.registry import get

FAST = dict(data="spiral", model="mlp", epochs=2, width=32)


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_best_lr_is_one_of_its_trials_and_the_table_is_deterministic(tmp_path):
    kw = dict(optimizers=["sgd", "adam"], budget=3, seeds=2, target=0.5, **FAST)
    rows = descent.compare(out=tmp_path / "a", **kw)
    trials = _read(tmp_path / "a" / "trials.csv")
    for row in rows:
        mine = [t for t in trials if t["optimizer"] == row["optimizer"] and t["phase"] == "tuning"]
        assert len(mine) == 3 and float(mine[0]["lr"]) == get(row["optimizer"]).lr  # trial 0: the registry's
        lrs = [float(t["lr"]) for t in mine]
        assert row["best_lr"] in lrs
        assert all(get(row["optimizer"]).lr / LR_FACTOR <= lr <= get(row["optimizer"]).lr * LR_FACTOR for lr in lrs)
        best = max(mine, key=lambda t: float(t["val_accuracy"]))
        assert row["best_val_accuracy"] == pytest.approx(float(best["val_accuracy"]))
        seeds = [t for t in trials if t["optimizer"] == row["optimizer"] and t["phase"] == "seeds"]
        assert [int(t["seed"]) for t in seeds] == [1, 2] and {float(t["lr"]) for t in seeds} == {row["best_lr"]}
        assert row["ci_low"] <= row["test_mean"] <= row["ci_high"]
        assert row["test_mean"] == pytest.approx(sum(float(t["test_accuracy"]) for t in seeds) / 2)
    again = descent.compare(out=tmp_path / "b", **kw)  # a new study: every run trained again

    def strip(table):
        return [{k: v for k, v in r.items() if k != "seconds_to_target"} for r in table]

    assert strip(again) == strip(rows)
    assert (tmp_path / "a" / "report.html").read_text().count("data:image/png;base64,") >= 3


@pytest.mark.slow
def test_rerun_resumes_from_its_study_and_a_changed_configuration_is_refused(tmp_path, run_cli):
    argv = ["compare", "--out", tmp_path, "--data", "spiral", "--model", "mlp", "--width", "32",
            "--optimizers", "sgd", "--epochs", "2", "--budget", "2", "--seeds", "2"]
    code, out, err = run_cli(*argv)
    assert code == 0, err
    assert out.count("[spiral sgd") == 4
    first = _read(tmp_path / "results.csv")
    code, out, err = run_cli(*argv)
    assert code == 0 and "[spiral sgd" not in out  # nothing trained again
    assert _read(tmp_path / "results.csv") == first
    code, out, err = run_cli(*argv[:-2], "--seeds", "3")  # one more seed: only that run is trained
    assert code == 0 and out.count("[spiral sgd") == 1
    code, _, err = run_cli(*[a if a != "2" else "3" for a in argv[:-6]], "--epochs", "3", "--budget", "2")
    assert code == 2 and "was run with" in err and "Traceback" not in err


MODEL = '''
import torch.nn as nn

def tiny(input_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], 16), nn.ReLU(), nn.Linear(16, num_classes))

def wrong(input_shape, num_classes):
    return nn.Linear(input_shape[0], num_classes + 1)

def not_a_model(input_shape, num_classes):
    return 42
'''
DATA = '''
import numpy as np

def blobs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 400)
    x = rng.normal(0, 1, (400, 5)) + 3 * np.eye(5)[y]
    return x[:300], y[:300], x[300:], y[300:]

def bad():
    return 1, 2
'''


@pytest.mark.slow
def test_user_model_and_data_files(tmp_path, run_cli):
    (tmp_path / "mymodel.py").write_text(MODEL)
    (tmp_path / "mydata.py").write_text(DATA)
    code, out, err = run_cli("compare", "--out", tmp_path / "out", "--model", f"{tmp_path}/mymodel.py:tiny",
                             "--data", f"{tmp_path}/mydata.py:blobs", "--optimizers", "adam", "--epochs", "10",
                             "--batch-size", "32", "--seeds", "2", "--target", "0.8")
    assert code == 0, err
    (row,) = _read(tmp_path / "out" / "results.csv")
    assert row["workload"] == "mydata:blobs" and int(row["num_parameters"]) == 5 * 16 + 16 + 16 * 3 + 3
    assert float(row["test_mean"]) > 0.8 and row["reached"] == "2/2"


@pytest.mark.parametrize("model, data, needle", [
    ("mymodel.py:nope", "mydata.py:blobs", "mymodel.py has no function 'nope'"),
    ("missing.py:tiny", "mydata.py:blobs", "no such file"),
    ("mymodel.py:not_a_model", "mydata.py:blobs", "returned a int, not a torch.nn.Module"),
    ("mymodel.py:wrong", "mydata.py:blobs", "expected (2, 3)"),
    ("mymodel.py:tiny", "mydata.py:bad", "must be (x_train, y_train, x_test, y_test)"),
])
def test_user_files_fail_in_one_line(tmp_path, run_cli, model, data, needle):
    (tmp_path / "mymodel.py").write_text(MODEL)
    (tmp_path / "mydata.py").write_text(DATA)
    code, _, err = run_cli("compare", "--out", tmp_path / "out", "--model", f"{tmp_path}/{model}",
                           "--data", f"{tmp_path}/{data}", "--optimizers", "adam", "--epochs", "1")
    assert code == 2 and needle in err, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_run_a_peer_finished_first_is_taken_from_the_peer():
    """Two workers on SQLite can both take one waiting trial; the peer records it first and Optuna then
    refuses this worker's record ('Cannot tell a COMPLETE trial'). The phase goes on with the peer's result."""
    import optuna
    from optuna.trial import TrialState

    from descent.comparison.studies import Phase, drain, memory_storage

    store = memory_storage()

    def runner(planned):  # while this worker trains, a peer holding the same trial finishes it
        peer = optuna.load_study(study_name="race", storage=store)
        (trial,) = peer.get_trials(states=(TrialState.RUNNING,))
        store.set_trial_user_attr(trial._trial_id, "val_accuracy", 0.25)
        peer.tell(trial.number, 0.25)
        return {"val_accuracy": 0.75}

    plan = [{"index": 0, "seed": 0, "setting": {"lr": 0.1}}]
    phase = Phase(store, "race", plan, {"epochs": 1}, runner)
    drain([phase])
    assert phase.done() and [r["val_accuracy"] for r in phase.results()] == [0.25]


@pytest.mark.slow
def test_a_fresh_compare_interrupted_keeps_its_study_and_resumes(tmp_path, run_cli):
    """Ctrl-C after the first run of a new --out: the folder and its study stay; the same command then
    trains only the runs that were not finished."""
    import os
    import signal
    import subprocess
    import sys

    argv = ["compare", "--out", str(tmp_path / "cmp"), "--data", "spiral", "--model", "mlp", "--width", "32",
            "--optimizers", "sgd", "--epochs", "40", "--budget", "3", "--seeds", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    worker = subprocess.Popen([sys.executable, "-m", "descent", *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    while not any(line.startswith("[spiral sgd") for line in lines):
        line = worker.stdout.readline()
        assert line, worker.stderr.read()
        lines.append(line)
    worker.send_signal(signal.SIGINT)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 130 and "interrupted" in err
    assert (tmp_path / "cmp" / "study.db").is_file()
    code, out, err = run_cli(*argv)
    assert code == 0, err
    done_before = lines[-1].split("]")[0] + "]"
    assert done_before not in out and out.count("[spiral sgd") <= 3
    trials = _read(tmp_path / "cmp" / "trials.csv")
    assert len(trials) == 4  # 3 tuning runs and 1 seed run, each trained once in all
