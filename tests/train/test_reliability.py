"""Fault injection: divergence after good epochs, a NaN without the monitor, a flipped checkpoint byte, a process
killed mid-write, strict JSON. Each compares against an independent run or the bytes on disk."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from descent._io import ensure_dir
from descent.cli import main
from descent.config import TrainConfig
from descent.errors import DescentError
from descent.train import Callback, checkpoint, run_training

BASE = dict(data="spiral", model="mlp", width=16, depth=1, optimizer="sgd", lr=0.1, batch_size=50, threads=1,
            progress=False)


class _Sabotage(Callback):
    """After epoch ``at`` (0-based) multiply the learning rate by ``factor``: a run that was fine diverges."""

    name = "sabotage"

    def __init__(self, at: int, factor: float) -> None:
        self.at, self.factor = at, factor

    def on_epoch_end(self, trainer, epoch, record) -> None:
        if epoch == self.at:
            for group in trainer.optimizer.param_groups:
                group["lr"] *= self.factor


def _strict(path: Path) -> dict:
    def refuse(token):
        raise AssertionError(f"{path.name} holds the non-JSON token {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.parametrize("monitor", [True, False])
def test_divergence_after_good_epochs_keeps_the_last_good_checkpoint(tmp_path, monitor):
    cfg = TrainConfig.of(epochs=6, monitor=monitor, **BASE)
    m = run_training(cfg, tmp_path / "run", callbacks=[_Sabotage(at=1, factor=1e7)])
    assert m["diverged"] and m["epochs_run"] <= 3 and "step" in m["stop_reason"]
    saved = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    # the truth: an independent run of exactly the good epochs (the sabotage only acts after epoch 1)
    clean = TrainConfig.of(epochs=2, monitor=monitor, **BASE)
    run_training(clean, tmp_path / "clean")
    truth = checkpoint.load(tmp_path / "clean" / "checkpoint.pt")
    assert saved["trainer"]["epoch"] == 2
    for name, value in truth["model"].items():
        assert torch.equal(saved["model"][name], value), name
    assert all(torch.isfinite(v).all() for v in saved["trainer"]["best_state"].values())
    _strict(tmp_path / "run" / "metrics.json")


def test_exploding_loss_without_the_monitor_exits_3_with_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--out", str(out), "--data", "spiral", "--model", "mlp", "--optimizer", "sgd",
                 "--lr", "1e6", "--epochs", "4", "--no-monitor", "--no-progress", "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "diverged" in err and "step" in err and "Traceback" not in err
    metrics = _strict(out / "metrics.json")
    assert metrics["diverged"] is True and metrics["epochs_run"] == 0
    assert not (out / "checkpoint.pt").exists()  # no good epoch: nothing was saved, nothing diverged was either


def test_non_finite_numbers_are_written_as_null_with_the_reason(tmp_path):
    from descent._io import write_json

    write_json(tmp_path / "m.json", {"loss": math.nan, "rows": [1.0, -math.inf]})
    data = _strict(tmp_path / "m.json")
    assert data["loss"] is None and data["rows"] == [1.0, None]
    assert data["non_finite"] == {"loss": "nan", "rows[1]": "-inf"}


def test_a_flipped_byte_is_detected(tmp_path):
    run_training(TrainConfig.of(epochs=1, **BASE), tmp_path)
    path = tmp_path / "checkpoint.pt"
    good = path.read_bytes()
    refused = 0
    # flip one byte at spread-out offsets: each must be refused as damaged (never load different weights)
    for offset in range(200, len(good) - 200, max(1, len(good) // 40)):
        damaged = bytearray(good)
        damaged[offset] ^= 0x40
        path.write_bytes(bytes(damaged))
        try:
            loaded = checkpoint.load(path)
        except DescentError as e:
            assert str(e).count("\n") == 0 and ("damaged" in str(e) or "not a descent checkpoint" in str(e))
            refused += 1
            continue
        # a flip in zip padding or metadata torch ignores may load: then the content must be unchanged
        path.write_bytes(good)
        original = checkpoint.load(path)
        for name, value in original["model"].items():
            assert torch.equal(loaded["model"][name], value)
    assert refused >= 30


def test_a_write_killed_midway_is_cleaned_up_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    run_training(TrainConfig.of(epochs=1, **BASE), out)
    script = ("import os, sys; from descent._io import atomic_open\n"
              "with atomic_open(sys.argv[1], 'w') as f:\n    f.write('<html>half'); f.flush(); os._exit(9)\n")
    done = subprocess.run([sys.executable, "-c", script, str(out / "report.html")], timeout=120)
    assert done.returncode == 9
    stale = [n for n in os.listdir(out) if n.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].startswith(".report.html.descent-")
    run_training(None, out, resume=True)
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]
    assert "<html>half" not in (out / "report.html").read_text()


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    mine = tmp_path / f".results.csv.descent-{os.getppid()}.abc123.tmp"  # the parent process is alive
    mine.write_text("in progress")
    ensure_dir(tmp_path)
    assert mine.exists()
