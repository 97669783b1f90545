"""`descent train` end to end, and its bad-input contract: one line on stderr, exit 2, no traceback,
no partial output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FAST = ["--data", "spiral", "--model", "mlp", "--epochs", "2", "--no-progress"]


def test_train_writes_its_outputs(tmp_path, run_cli):
    code, out, err = run_cli("train", "--out", tmp_path, *FAST)
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("test_accuracy", "val_accuracy", "train_seconds", "config"):
        assert key in metrics
    assert metrics["config"]["data"]["name"] == "spiral" and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert (tmp_path / "history.csv").read_text().count("\n") == 3  # header + 2 epochs
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test accuracy" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--data", "nope"], "invalid data='nope': must be one of mnist1d, digits"),
        (["--optimizer", "sgdd"], "invalid optimizer='sgdd': must be one of sgd, momentum"),
        (["--batch-size", "0"], "invalid --batch-size='0': must be a positive integer"),
        (["--epochs", "-1"], "invalid --epochs='-1': must be a positive integer"),
        (["--lr", "-0.1"], "invalid --lr='-0.1': must be a positive finite number"),
        (["--lr", "nan"], "invalid --lr='nan': must be a positive finite number"),
        (["--dropout", "1.5"], "invalid --dropout='1.5': must be a probability in [0, 1)"),
        (["--data", "mnist", "--data-dir", "/nonexistent"], "does not exist"),
        (["--optimizer", "adam", "--momentum", "0.9"], "invalid momentum=0.9: must be a hyperparameter of adam"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, run_cli, argv, needle):
    out_dir = tmp_path / "run"
    code, out, err = run_cli("train", "--out", out_dir, *FAST, *argv)
    assert code == 2
    assert needle in err
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert not (out_dir / "metrics.json").exists()


def test_resume_from_a_damaged_checkpoint_is_an_error(tmp_path, run_cli):
    code, _, err = run_cli("train", "--out", tmp_path, *FAST)
    assert code == 0, err
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    code, _, err = run_cli("train", "--out", tmp_path, *FAST, "--resume")
    assert code == 2 and "is damaged: truncated, or not written by torch.save" in err


def test_module_entry_point_and_help():
    for argv in (["--help"], ["train", "--help"]):
        r = subprocess.run([sys.executable, "-m", "descent", *argv], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and "usage: descent" in r.stdout
    r = subprocess.run([sys.executable, "-m", "descent", "train"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
