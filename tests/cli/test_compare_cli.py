"""`descent compare`: budget 1 and one seed is the old comparison (each optimizer at its registry lr, the same
init); the outputs; bad input in one line with no folder left behind."""

from __future__ import annotations

import csv

import pytest

from descent.optim.registry import OPTIMIZERS

FAST = ["--data", "spiral", "--model", "mlp", "--width", "32", "--epochs", "2"]


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_compare_two_optimizers_at_their_registry_lr(tmp_path, run_cli):
    code, out, err = run_cli("compare", "--out", tmp_path, "--optimizers", "sgd,adam", *FAST)
    assert code == 0, err
    rows = _read(tmp_path / "results.csv")
    assert sorted(r["optimizer"] for r in rows) == ["adam", "sgd"]
    trials = _read(tmp_path / "trials.csv")
    expected = [("sgd", "tuning", "0"), ("adam", "tuning", "0")]
    assert [(t["optimizer"], t["phase"], t["seed"]) for t in trials] == expected
    for r in rows:
        assert float(r["best_lr"]) == OPTIMIZERS[r["optimizer"]].lr  # budget 1: the registry's lr
        (t,) = [t for t in trials if t["optimizer"] == r["optimizer"]]
        assert float(r["test_mean"]) == pytest.approx(float(t["test_accuracy"]))
        assert r["seeds"] == "1" and r["ci_low"] == "nan"  # one seed: no interval
    report = (tmp_path / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 3  # ranking, lr sensitivity, curves
    assert "[spiral adam tuning 1/1]" in out and "95% interval" in out


@pytest.mark.parametrize("argv, needle", [
    (["--optimizers", "sgd,nope"], "unknown optimizer 'nope'"),
    (["--optimizers", " , "], "no optimizer named"),
    (["--epochs", "0"], "invalid --epochs='0': must be a positive integer"),
    (["--budget", "0"], "invalid --budget='0': must be a positive integer"),
    (["--tune", "lr,gamma"], "invalid tune='gamma'"),
    (["--target", "1.5"], "invalid target=1.5"),
    (["--target", "0.5,0.6"], "one accuracy, or one per workload"),
    (["--snapshots", "2"], "invalid snapshots=2"),
    (["--data", "nope"], "unknown dataset 'nope'"),
])
def test_compare_bad_input(tmp_path, run_cli, argv, needle):
    code, _, err = run_cli("compare", "--out", tmp_path / "out", *FAST, *argv)
    assert code == 2 and needle in err, err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_compare_unwritable_output(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("compare", "--out", tmp_path / "file" / "out", "--optimizers", "sgd", *FAST)
    assert code == 2 and "cannot create output folder" in err and "Traceback" not in err
