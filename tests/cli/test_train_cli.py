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


@pytest.mark.parametrize("size, label, needle", [
    (2, 3, "holds 2x2 images; mnist images are 28x28"),
    (28, 200, "holds label 200, out of range 0..9"),
])
def test_files_that_are_not_mnist_are_refused_by_name(tmp_path, run_cli, size, label, needle):
    import numpy as np

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", 20), ("t10k", 5)):
        images = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
        labels = np.r_[rng.integers(0, 10, n - 1), label].astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
            (folder / f"{stem}-{kind}-ubyte").write_bytes(header + array.tobytes())
    code, _, err = run_cli("train", "--data", "mnist", "--data-dir", folder, "--model", "mlp", "--epochs", "1",
                           "--no-progress", "--out", tmp_path / "run")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()
