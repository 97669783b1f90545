"""The babysitting monitor, driven by a tiny hand-made trainer that calls the callbacks like descent's."""

from __future__ import annotations

import copy
import json
import math
import sys

import numpy as np
import pytest
import torch
from torch import nn

from descent.config import TrainConfig
from descent.errors import DescentError
from descent.train import overfit_check, run_training
from descent.train.callbacks import StopTraining
from descent.train.monitor import Monitor, dead_fraction, expected_first_loss, update_to_weight_ratio

C = 10


class FakeTrainer:
    """The trainer contract in miniature: forward, backward, after_backward, step, on_batch_end, epochs."""

    def __init__(self, model, lr=0.1, loss="softmax", callbacks=(), steps_per_epoch=4, batch=32, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(steps_per_epoch * batch, 20, generator=g)
        self.y = torch.randint(0, C, (steps_per_epoch * batch,), generator=g)
        self.model, self.num_classes = model, C
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.callbacks, self.batch, self.steps_per_epoch = list(callbacks), batch, steps_per_epoch
        self.step, self.epoch, self.iter_losses, self.history = 0, 0, [], []
        self.observed = []  # (step, weight name, grad norm, lr * ||grad|| / ||W||), measured independently

    def fit(self, epochs):
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(epochs):
                self.epoch = epoch
                self.model.train()
                for i in range(self.steps_per_epoch):
                    batch = slice(i * self.batch, (i + 1) * self.batch)
                    xb, yb = self.x[batch], self.y[batch]
                    self.optimizer.zero_grad()
                    loss = nn.functional.cross_entropy(self.model(xb), yb)
                    loss.backward()
                    for cb in self.callbacks:
                        cb.after_backward(self, self.step)
                    for name, p in self.model.named_parameters():
                        if p.dim() > 1:
                            g = p.grad.norm().item()
                            self.observed.append((self.step, name, g, 0.1 * g / p.detach().norm().item()))
                    self.optimizer.step()
                    for cb in self.callbacks:
                        cb.on_batch_end(self, self.step, loss.item())
                    self.iter_losses.append(loss.item())
                    self.step += 1
                self.model.eval()
                with torch.no_grad():  # evaluation must not feed the activation statistics
                    self.model(self.x)
                record = {"epoch": epoch, "train_accuracy": 0.5, "val_accuracy": 0.5}
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, record)
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)


def mlp(std=1e-3, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, C))
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)
    return model


def levels(monitor, check):
    return [f["level"] for f in monitor.findings if f["check"] == check]


def test_expected_first_loss() -> None:
    assert expected_first_loss("softmax", 10) == pytest.approx(math.log(10))
    assert expected_first_loss("svm", 10) == 9.0
    # uniform scores give exactly these values: cross-entropy and the multiclass hinge with margin 1
    scores, y = torch.zeros(4, 10), torch.tensor([0, 3, 5, 9])
    assert nn.functional.cross_entropy(scores, y).item() == pytest.approx(expected_first_loss("softmax", 10))
    hinge = nn.functional.multi_margin_loss(scores, y).item() * 10  # torch divides by C
    assert hinge == pytest.approx(expected_first_loss("svm", 10))


def test_first_loss_small_init_ok_large_init_flagged() -> None:
    good = Monitor(every=1)
    FakeTrainer(mlp(std=1e-3), callbacks=[good]).fit(1)
    assert levels(good, "first loss") == ["ok"]
    assert good.first_loss == pytest.approx(math.log(C), rel=0.01)
    bad = Monitor(every=1, explode_factor=1e6)
    FakeTrainer(mlp(std=3.0), lr=1e-3, callbacks=[bad]).fit(1)
    assert levels(bad, "first loss") == ["warning"] and "too large" in bad.findings[0]["message"]


def test_update_ratio_and_grad_norm_match_an_independent_measurement() -> None:
    monitor = Monitor(every=3)
    trainer = FakeTrainer(mlp(std=0.1), lr=0.1, callbacks=[monitor])
    trainer.fit(2)  # 8 steps: samples at 0, 3, 6
    series = monitor.summary()["series"]
    assert series["step"] == [0, 3, 6]
    for layer, weight in (("0", "0.weight"), ("2", "2.weight")):
        expected = [(g, r) for s, n, g, r in trainer.observed if n == weight and s in (0, 3, 6)]
        # plain SGD: W_after - W_before = -lr * grad, so the ratio is lr * ||grad|| / ||W||
        np.testing.assert_allclose(series["update_ratio"][layer], [r for _, r in expected], rtol=1e-5)
        np.testing.assert_allclose(series["grad_norm"][layer], [g for g, _ in expected], rtol=1e-6)
    json.dumps(monitor.summary())  # goes into metrics.json


def test_update_ratio_flags() -> None:
    slow = Monitor(every=1)
    FakeTrainer(mlp(std=0.1), lr=1e-7, callbacks=[slow]).fit(1)
    assert "warning" in levels(slow, "update ratio")
    assert any("too low" in f["message"] for f in slow.findings)
    w = torch.randn(5, 5, dtype=torch.float64)
    d = 1e-3 * torch.randn(5, 5, dtype=torch.float64)
    ref = np.linalg.norm(d.numpy()) / np.linalg.norm(w.numpy())
    assert update_to_weight_ratio(w, w + d) == pytest.approx(ref)


def test_activation_statistics_match_a_manual_forward() -> None:
    model = mlp(std=0.2)
    initial = copy.deepcopy(model)
    monitor = Monitor(every=100)
    trainer = FakeTrainer(model, callbacks=[monitor])
    trainer.fit(2)
    series = monitor.summary()["series"]
    assert list(series["act_std"]) == ["1"] and len(series["act_std"]["1"]) == 1  # step 0 only, not eval
    with torch.no_grad():
        a = initial[1](initial[0](trainer.x[:32])).numpy()
    assert series["act_mean"]["1"][0] == pytest.approx(a.mean(), rel=1e-5)
    assert series["act_std"]["1"][0] == pytest.approx(a.std(ddof=1), rel=1e-5)
    assert series["dead_fraction"]["1"][0] == pytest.approx(np.mean(~(a > 0).any(axis=0)))
    assert not model[1]._forward_hooks  # hooks removed at the end


def test_dead_relus_flagged_and_dead_fraction_reference() -> None:
    model = mlp(std=0.1)
    with torch.no_grad():
        model[0].bias[:24] = -100.0  # 24 of 32 units can never fire
    monitor = Monitor(every=1)
    FakeTrainer(model, callbacks=[monitor]).fit(1)
    assert monitor.series["dead_fraction"]["1"][-1] == pytest.approx(24 / 32)
    assert levels(monitor, "dead ReLUs") == ["warning"]
    a = torch.relu(torch.randn(6, 4, 7) - 1.5)  # conv layout: (batch, channels, length)
    ref = np.mean([not (a[:, c] > 0).any() for c in range(4)])
    assert dead_fraction(a) == pytest.approx(ref)


def test_tiny_activations_flagged() -> None:
    monitor = Monitor(every=1)
    FakeTrainer(mlp(std=1e-4), callbacks=[monitor]).fit(1)
    assert levels(monitor, "activations") == ["warning"]


def _feed(monitor, losses):
    trainer = FakeTrainer(mlp(), callbacks=[])
    monitor.on_train_begin(trainer)
    for step, loss in enumerate(losses):
        monitor.after_backward(trainer, step)
        monitor.on_batch_end(trainer, step, loss)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_loss_stops(bad: float) -> None:
    with pytest.raises(StopTraining, match=f"became {bad}"):
        _feed(Monitor(), [2.3, 2.2, bad])


def test_exploding_loss_stops_after_warmup_only() -> None:
    monitor = Monitor(warmup=10, window=3, explode_factor=3.0)
    _feed(monitor, [2.3] + [8.0] * 9)  # 8 > 3 * ln(10) but still warming up
    with pytest.raises(StopTraining, match="exploded"):
        monitor.on_batch_end(None, 10, 8.0)
    calm = Monitor(warmup=0, window=3)
    _feed(calm, [2.3] * 5 + [6.0] * 5)  # 6 < 3 * 2.3
    assert not levels(calm, "loss")


def test_real_run_with_a_huge_learning_rate_is_stopped() -> None:
    with pytest.raises(StopTraining):
        FakeTrainer(mlp(std=0.5), lr=1e4, callbacks=[Monitor(warmup=2, window=2)], steps_per_epoch=10).fit(3)


def test_widening_gap_warns_of_overfitting() -> None:
    monitor = Monitor(gap_warn=0.1, gap_epochs=3)
    for epoch, (tr, va) in enumerate([(0.6, 0.58), (0.7, 0.62), (0.8, 0.63), (0.9, 0.62), (0.95, 0.61)]):
        monitor.on_epoch_end(None, epoch, {"train_accuracy": tr, "val_accuracy": va})
    assert levels(monitor, "overfitting") == ["warning"]
    steady = Monitor(gap_warn=0.1, gap_epochs=3)
    for epoch in range(6):
        steady.on_epoch_end(None, epoch, {"train_accuracy": 0.8, "val_accuracy": 0.75})
    assert not levels(steady, "overfitting")


def test_tensorboard_missing_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(DescentError, match=r"descent\[tensorboard\]"):
        Monitor(tensorboard=True)


@pytest.mark.parametrize("kwargs, message", [({"every": 0}, "every"), ({"ratio_low": 0.1}, "ratio_low"),
                                             ({"explode_factor": 1.0}, "explode_factor")])
def test_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        Monitor(**kwargs)


@pytest.mark.parametrize("factor, level", [(1.1, "ok"), (1.6, "info"), (0.6, "info"), (2.5, "warning"),
                                           (0.3, "warning")])
def test_first_loss_levels(factor, level) -> None:
    monitor = Monitor()
    _feed(monitor, [factor * math.log(C)])
    assert levels(monitor, "first loss") == [level]


def test_overfit_check_passes_and_fails() -> None:

    cfg = TrainConfig.of(data="spiral", model="mlp", optimizer="adam", dropout=0.5, l2=1e-2, seed=0)
    result = overfit_check(cfg, examples=20, steps=300)
    assert result["passed"] and result["train_accuracy"] == 1.0 and result["steps"] <= 300
    assert result["final_loss"] < result["first_loss"] and "passed" in result["message"]
    stuck = overfit_check(TrainConfig.of(data="spiral", model="mlp", optimizer="sgd", lr=1e-6), steps=20)
    assert not stuck["passed"] and stuck["steps"] == 20 and "FAILED" in stuck["message"]


def test_in_run_training_resume_continues_the_series(tmp_path) -> None:

    def cfg(epochs):  # batches of 8: well over 50 steps an epoch, so each part samples several steps
        return TrainConfig.of(data="spiral", model="mlp", batch_size=8, epochs=epochs, progress=False)

    first = run_training(cfg(2), tmp_path)["monitor"]
    resumed = run_training(cfg(4), tmp_path, resume=True)["monitor"]
    steps = resumed["series"]["step"]
    assert steps[: len(first["series"]["step"])] == first["series"]["step"]
    assert len(steps) > len(first["series"]["step"]) and steps == sorted(set(steps))
    assert [f["check"] for f in resumed["findings"]].count("first loss") == 1
    assert resumed["first_loss"] == first["first_loss"]
    ratio_layers = [f["message"].split(":")[0] for f in resumed["findings"] if f["check"] == "update ratio"]
    assert len(ratio_layers) == len(set(ratio_layers))  # verdicts not repeated after the resume


def test_in_run_training_a_diverging_run_is_stopped_with_a_diagnosis(tmp_path) -> None:

    cfg = TrainConfig.of(data="spiral", model="mlp", optimizer="sgd", lr=1e3, epochs=5, progress=False,
                      checkpoint_every=0)
    metrics = run_training(cfg, tmp_path)
    assert "exploded" in metrics["stop_reason"] or "became" in metrics["stop_reason"]
    assert any(f["level"] == "error" for f in metrics["monitor"]["findings"])


def test_closure_optimizer_keeps_the_series_aligned(tmp_path) -> None:

    cfg = TrainConfig.of(data="spiral", model="mlp", optimizer="lbfgs", epochs=3, progress=False, checkpoint_every=0)
    series = run_training(cfg, tmp_path)["monitor"]["series"]
    assert series["step"] == [0]  # sampled at step 0 only (every=50), once despite several closure calls
    assert all(len(v) == 1 for v in series["act_std"].values())


def test_tensorboard_events_hold_the_run_history(tmp_path) -> None:
    """The event file, read back with TensorBoard's own reader, holds each epoch's validation accuracy."""
    import csv

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


    run_training(TrainConfig.of(data="spiral", model="mlp", epochs=3, tensorboard=True, train_subset=200), tmp_path)
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    logged = [e.value for e in acc.Scalars("epoch/val_accuracy")]
    with open(tmp_path / "history.csv") as f:
        expected = [float(r["val_accuracy"]) for r in csv.DictReader(f)]
    assert logged == pytest.approx(expected, abs=1e-6)
