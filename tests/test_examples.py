"""The examples run end to end and print what the README says they print."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                       timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_drop_in_optimizer():
    out = run_example("drop_in_optimizer.py")
    lr, acc = map(float, re.search(r"lr after 30 epochs: (\S+)\s+test accuracy: (\S+)", out).groups())
    assert lr == pytest.approx(0.05 * 0.5**3)  # step decay: halved at epochs 10, 20 and 30
    assert acc > 0.95


def test_gradient_check_of_the_svm_loss():
    out = run_example("gradient_check.py")
    error = float(re.search(r"largest relative error (\S+)", out).group(1))
    assert error < 1e-7 and "-> good" in out


def test_full_batch_second_order():
    out = run_example("full_batch_lbfgs.py")
    losses = [float(v) for v in re.findall(r"loss (\S+)", out)]
    grads = [float(v) for v in re.findall(r"max \|grad\| (\S+)", out)]
    assert len(losses) == 2 and losses[0] == pytest.approx(losses[1], abs=1e-9)  # both reach the optimum
    assert grads[0] < 1e-5 and grads[1] < 1e-10  # Newton converges quadratically, far past L-BFGS
