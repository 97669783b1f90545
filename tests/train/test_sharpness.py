"""`descent train --sharpness-every K` and the per-epoch weights every run keeps: against the dense Hessian and
the checkpoint, and measuring must not change the run."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descent.config import TrainConfig
from descent.hessian import flatten, unflatten
from descent.train import checkpoint, run_training
from descent.train.job import build
from descent.train.resolve import resolve
from descent.train.sharpness import Sharpness
from descent.train.weights import load as load_weights

SMALL = dict(data="spiral", model="mlp", width=8, depth=1, threads=1, progress=False, monitor=False)


def _rows(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_recorded_sharpness_is_the_dense_hessians_top_eigenvalue(tmp_path):
    cfg = TrainConfig.of(**SMALL, optimizer="sgd", batch_size=None, epochs=1, checkpoint_every=0)
    trainer, _ = build(resolve(cfg), tmp_path)
    model = trainer.model
    x, y = trainer.splits.train
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())

    def flat_loss(w):
        return nn.functional.cross_entropy(functional_call(model, dict(zip(names, unflatten(w, params))), (x,)), y)

    dense = torch.autograd.functional.hessian(flat_loss, flatten(params).detach())
    callback = Sharpness(every=1, tol=1e-8)
    callback.on_train_begin(trainer)  # a full-batch run: the fixed batch is the whole training set
    assert callback.rows[0]["sharpness"] == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-5)


def test_measuring_sharpness_does_not_change_the_run_and_is_reported(tmp_path):
    common = dict(**SMALL, batchnorm=True, dropout=0.2, optimizer="momentum", batch_size=64, epochs=2)
    run_training(TrainConfig.of(**common), tmp_path / "plain")
    metrics = run_training(TrainConfig.of(**common, sharpness_every=3), tmp_path / "measured")
    plain, measured = _rows(tmp_path / "plain" / "losses.csv"), _rows(tmp_path / "measured" / "losses.csv")
    assert plain == measured  # batch-norm buffers and the RNG (dropout) are restored after every estimate
    rows = _rows(tmp_path / "measured" / "sharpness.csv")
    steps = metrics["steps"]
    assert [int(r["step"]) for r in rows] == list(range(0, steps + 1, 3))
    assert list(rows[0]) == ["step", "lr", "sharpness", "hvps", "seconds"]
    assert all(float(r["sharpness"]) > 0 and float(r["lr"]) == 0.05 for r in rows)
    summary = metrics["sharpness"]
    assert summary["estimates"] == len(rows) and summary["cost_share"] > 0
    assert "Sharpness against 2/lr" in (tmp_path / "measured" / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / "plain" / "sharpness.csv").exists()


def test_every_run_keeps_its_per_epoch_weights_and_a_resume_continues_them(tmp_path):
    cfg = TrainConfig.of(**SMALL, epochs=2)
    run_training(cfg, tmp_path)
    kept = load_weights(tmp_path / "weights.pt")
    assert kept["weights"].shape[0] == 3 and kept["weights"].dtype == torch.float16
    run_training(cfg.replace(epochs=4), tmp_path, resume=True)
    kept = load_weights(tmp_path / "weights.pt")
    final = flatten(checkpoint.load(tmp_path / "checkpoint.pt")["model"].values()).float()
    assert kept["epochs"].tolist() == [0, 1, 2, 3, 4]
    torch.testing.assert_close(kept["weights"][-1].float(), final, rtol=1e-3, atol=1e-4)  # float16's precision
    assert kept["names"] == ["net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias"]
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs_run"] == 4
