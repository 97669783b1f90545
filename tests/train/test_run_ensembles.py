"""`descent train --snapshots K` and `--ema`: the snapshot schedule, where the snapshots are taken, what
metrics.json reports, and the bad-input contract."""

from __future__ import annotations

import math

import pytest

from descent.config import TrainConfig
from descent.train import run_training

BASE = dict(data="spiral", model="mlp", width=32, optimizer="momentum", lr=0.1, batch_size=100, monitor=False)


def test_snapshot_ensemble_metrics_and_schedule(tmp_path):
    m = run_training(TrainConfig.of(epochs=6, snapshots=3, **BASE), tmp_path)
    spe = math.ceil(m["data"]["train"] / 100)
    assert m["snapshots"]["taken_at_steps"] == [2 * spe, 4 * spe, 6 * spe]
    assert m["single_test_accuracy"] == m["snapshots"]["member_test_accuracies"][-1]
    assert m["test_accuracy"] == m["snapshots"]["ensemble_test_accuracy"]
    # each epoch-end lr follows the cosine of its 2-epoch cycle, written out here independently:
    # after epoch e (0-based) the schedule is at t = (e + 1) * spe; position in cycle = t mod (2 spe)
    from descent.train import checkpoint

    history = checkpoint.load(tmp_path / "checkpoint.pt")["trainer"]["history"]
    for r in history:
        t = (r["epoch"] + 1) * spe
        # history records the lr used during the epoch's last step, i.e. the schedule at t - 1
        pos_prev = (t - 1) % (2 * spe)
        used = 0.1 * (1 + math.cos(math.pi * pos_prev / (2 * spe))) / 2
        assert r["lr"] == pytest.approx(used, rel=1e-9, abs=1e-12), r


def test_ema_reports_its_accuracy(tmp_path):
    m = run_training(TrainConfig.of(epochs=2, ema=0.9, **BASE), tmp_path)
    assert 0.0 <= m["ema"]["ema_test_accuracy"] <= 1.0 and m["ema"]["decay"] == 0.9


@pytest.mark.parametrize("kw,needle", [
    (dict(snapshots=1, epochs=4), r"invalid snapshots=1: must be an integer >= 2"),
    (dict(snapshots=5, epochs=4), r"invalid snapshots=5: must be at most epochs=4"),
    (dict(snapshots=2, epochs=4, schedule="cosine"), r"invalid schedule='cosine': must be unset with --snapshots"),
    (dict(ema=1.5, epochs=2), r"invalid ema=1.5: must be in \[0, 1\)"),
])
def test_bad_ensemble_settings(tmp_path, kw, needle):
    with pytest.raises(ValueError, match=needle):
        run_training(TrainConfig.of(**{**BASE, **kw}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
