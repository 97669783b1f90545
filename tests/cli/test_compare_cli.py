"""`descent compare`: one run per optimizer from the same init, results.csv, overlaid curves, report."""

from __future__ import annotations

import csv
import json

import pytest

from descent.optim.registry import OPTIMIZERS

FAST = ["--data", "spiral", "--model", "mlp", "--epochs", "2", "--no-progress"]


def test_compare_two_optimizers(tmp_path, run_cli):
    code, out, err = run_cli("compare", "--out", tmp_path, "--optimizers", "sgd,adam", *FAST)
    assert code == 0, err
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["optimizer"] for r in rows] == ["sgd", "adam"]
    for r in rows:
        assert float(r["lr"]) == OPTIMIZERS[r["optimizer"]].lr  # each at its registry lr
        metrics = json.loads((tmp_path / r["optimizer"] / "metrics.json").read_text())
        assert metrics["config"]["optimizer"]["name"] == r["optimizer"]
        assert float(r["test_accuracy"]) == pytest.approx(metrics["test_accuracy"])
        assert float(r["best_val_accuracy"]) == pytest.approx(max(h["val_accuracy"] for h in _history(tmp_path, r)))
        assert (tmp_path / r["optimizer"] / "report.html").is_file()
    # same seed: same initial weights and the same first batch, so the first loss is the same number
    first = [_first_loss(tmp_path / name) for name in ("sgd", "adam")]
    assert first[0] == first[1]
    for png in ("loss.png", "accuracy.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.html").read_text()
    assert 'href="sgd/report.html"' in report and report.count("data:image/png;base64,") == 2
    assert "[2/2] adam" in out and "best val" in out  # progress lines and the final table


def _history(root, row):
    with open(root / row["optimizer"] / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in h.items()} for h in csv.DictReader(f)]


def _first_loss(run_dir):
    with open(run_dir / "losses.csv", newline="") as f:
        return float(next(csv.DictReader(f))["loss"])


@pytest.mark.parametrize("argv, needle", [
    (["--optimizers", "sgd,nope"], "unknown optimizer 'nope'"),
    (["--optimizers", " , "], "no optimizer named"),
    (["--epochs", "0"], "invalid --epochs='0': must be a positive integer"),
])
def test_compare_bad_input(tmp_path, run_cli, argv, needle):
    code, _, err = run_cli("compare", "--out", tmp_path / "out", *FAST, *argv)
    assert code == 2 and needle in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_compare_unwritable_output(tmp_path, run_cli):
    (tmp_path / "file").write_text("")
    code, _, err = run_cli("compare", "--out", tmp_path / "file" / "out", "--optimizers", "sgd", *FAST)
    assert code == 2 and "cannot create output folder" in err and "Traceback" not in err
