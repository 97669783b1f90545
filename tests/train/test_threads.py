"""The thread governor: it keeps the count whose steps run faster, probing again as the load changes."""

from __future__ import annotations

import json
import time

import pytest
import torch

from descent.config import TrainConfig
from descent.train import run_training
from descent.train.threads import Threads


def _drive(governor: Threads, step_seconds, steps: int) -> list[int]:
    """Call the governor as the trainer does, each step taking ``step_seconds(threads)``; return the counts."""
    used = []
    governor.on_train_begin(None)
    for s in range(steps):
        k = torch.get_num_threads()
        used.append(k)
        time.sleep(step_seconds(k, s))
        governor.on_batch_end(None, s, 0.0)
    governor.on_train_end(None)
    return used


@pytest.mark.parametrize("fast", [1, 2])
def test_it_keeps_the_faster_count(fast: int) -> None:
    before = torch.get_num_threads()
    governor = Threads(most=2, probe=3, every=20)
    used = _drive(governor, lambda k, s: 0.002 if k == fast else 0.008, steps=40)
    assert governor.chosen == fast
    assert used[8:20].count(fast) == 12  # after the first probe (3 + 3 timed steps, 1 untimed), only `fast`
    assert torch.get_num_threads() == before  # restored at the end of training
    assert governor.probes == 2 and sum(governor.summary()["steps_by_threads"].values()) == 40


def test_it_follows_the_load_as_it_changes() -> None:
    """Two threads are faster until step 30, then (a busy neighbour arrives) one thread is."""
    governor = Threads(most=2, probe=3, every=15)
    used = _drive(governor, lambda k, s: (0.002 if k == 2 else 0.004) if s < 30 else
                  (0.010 if k == 2 else 0.003), steps=70)
    assert used[8:21].count(2) == 13 and set(used[50:62]) == {1}


def test_a_small_difference_does_not_switch() -> None:
    governor = Threads(most=2, probe=3, every=20, margin=0.3)
    _drive(governor, lambda k, s: 0.004 if k == 1 else 0.005, steps=30)
    assert governor.chosen == 2  # one thread is 20% faster, below the 30% margin


def test_one_core_runs_one_thread() -> None:
    governor = Threads(most=1)
    assert _drive(governor, lambda k, s: 0.0, steps=5) == [1] * 5 and governor.candidates == (1,)


def test_training_uses_it_unless_threads_are_given(tmp_path) -> None:
    base = TrainConfig.of(data="spiral", model="mlp", epochs=2, progress=False)
    run_training(base, tmp_path / "auto")
    auto = json.loads((tmp_path / "auto" / "metrics.json").read_text())
    assert auto["threads"]["probes"] >= 1 and sum(auto["threads"]["steps_by_threads"].values()) == auto["steps"]
    run_training(base.replace(threads=1), tmp_path / "fixed")
    assert "threads" not in json.loads((tmp_path / "fixed" / "metrics.json").read_text())
