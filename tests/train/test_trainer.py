"""The trainer against a plain hand-written loop, determinism, batch-size semantics, and exact resume."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from descent import data
from descent.config import TrainConfig
from descent.errors import DescentError
from descent.models import build_model
from descent.train import BatchPlan, Trainer, checkpoint, run_training


def _setup(cfg, lr=0.1):
    torch.manual_seed(cfg.run.seed)
    splits = data.load(cfg.data.name, seed=cfg.run.seed, train_subset=cfg.data.train_subset)
    model = build_model(cfg.model, splits)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return splits, model, opt


def _plan(cfg, splits):
    return BatchPlan.make(len(splits.train[0]), cfg.run.batch_size, cfg.run.epochs, cfg.run.seed)


def test_trainer_equals_a_hand_written_loop():
    cfg = TrainConfig.of(data="spiral", model="mlp", width=32, batch_size=50, epochs=3, monitor=False)
    splits, model, opt = _setup(cfg)
    ref_model = build_model(cfg.model, splits)
    ref_model.load_state_dict(model.state_dict())
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.1, momentum=0.9)
    Trainer(model, opt, splits, _plan(cfg, splits)).fit()

    g = torch.Generator().manual_seed(cfg.run.seed)
    x, y = splits.train
    for _ in range(cfg.run.epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), cfg.run.batch_size):
            idx = perm[i: i + cfg.run.batch_size]
            loss = nn.functional.cross_entropy(ref_model(x[idx]), y[idx])
            ref_opt.zero_grad()
            loss.backward()
            ref_opt.step()
    for p, q in zip(model.parameters(), ref_model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("batch_size,steps", [(1, 90), (None, 1), (40, 3)])
def test_batch_size_semantics(batch_size, steps):
    cfg = TrainConfig.of(data="spiral", model="mlp", batch_size=batch_size, epochs=1, train_subset=90, monitor=False)
    splits, model, opt = _setup(cfg, lr=0.005)
    t = Trainer(model, opt, splits, _plan(cfg, splits))
    t.fit()
    assert t.stop_reason is None
    assert t.step == steps == len(t.iter_losses)


def test_same_seed_same_numbers(tmp_path):
    cfg = TrainConfig.of(data="spiral", model="mlp", epochs=2, dropout=0.3, monitor=False, train_subset=200)
    a = run_training(cfg, tmp_path / "a")
    b = run_training(cfg, tmp_path / "b")
    assert a["test_accuracy"] == b["test_accuracy"]
    assert (tmp_path / "a" / "losses.csv").read_text() == (tmp_path / "b" / "losses.csv").read_text()


def test_resume_is_bit_identical(tmp_path):
    base = dict(data="spiral", model="mlp", dropout=0.2, optimizer="adam", train_subset=300, monitor=False)
    full = run_training(TrainConfig.of(epochs=4, **base), tmp_path / "full")
    run_training(TrainConfig.of(epochs=2, **base), tmp_path / "part")
    resumed = run_training(TrainConfig.of(epochs=4, **base), tmp_path / "part", resume=True)
    assert resumed["epochs_run"] == 4
    a = checkpoint.load(tmp_path / "full" / "checkpoint.pt")
    b = checkpoint.load(tmp_path / "part" / "checkpoint.pt")
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert (tmp_path / "full" / "losses.csv").read_text() == (tmp_path / "part" / "losses.csv").read_text()
    assert full["test_accuracy"] == resumed["test_accuracy"]


def test_best_validation_weights_are_kept(tmp_path):
    m = run_training(TrainConfig.of(data="spiral", model="mlp", epochs=5, monitor=False, train_subset=300),
                     tmp_path)
    history = [r["val_accuracy"] for r in checkpoint.load(tmp_path / "checkpoint.pt")["trainer"]["history"]]
    assert m["val_accuracy"] == max(history) and m["best_epoch"] == history.index(max(history))


def test_checkpoint_damage_is_a_clear_error(tmp_path):
    run_training(TrainConfig.of(data="spiral", model="mlp", epochs=1, monitor=False, train_subset=50), tmp_path)
    p = tmp_path / "checkpoint.pt"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DescentError, match="is damaged: truncated"):
        checkpoint.load(p)
    with pytest.raises(DescentError, match="no checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".")], "no temporary files left behind"


def test_closure_optimizers_train_full_batch(tmp_path):
    from descent.optim.registry import OPTIMIZERS

    assert OPTIMIZERS["lbfgs"].closure
    m = run_training(TrainConfig.of(data="spiral", model="mlp", optimizer="lbfgs", batch_size=None, epochs=3,
                                 monitor=False, width=32), tmp_path)
    assert m["steps"] == 3 and m["final_train_accuracy"] > 0.6


def test_divergence_stops_with_a_diagnosis(tmp_path):
    m = run_training(TrainConfig.of(data="spiral", model="mlp", optimizer="sgd", lr=1e6, epochs=3, monitor=False),
                     tmp_path)
    assert m["stop_reason"] and "learning rate" in m["stop_reason"]
    assert m["epochs_run"] < 3 or not math.isfinite(m["final_train_loss"])
