"""Ensembles: probability averaging against NumPy, EMA against its recurrence, snapshot bookkeeping."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from descent.train.ensemble import (
    EMA,
    Snapshots,
    average_probabilities,
    ensemble_accuracy,
    models_from_state_dicts,
    snapshot_cycle_end_steps,
    snapshot_cycle_epochs,
)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _net(seed):
    torch.manual_seed(seed)
    layers = [nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 3)]
    return nn.Sequential(*layers).double()


def _fake_trainer(model, n_test=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_test, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n_test,), generator=g)
    return SimpleNamespace(model=model, device=torch.device("cpu"), splits=SimpleNamespace(test=(x, y)))


def _train(trainer, callbacks, steps, lr=0.1):
    """A minimal loop calling the callbacks as the trainer does (step counts from 0)."""
    opt = torch.optim.SGD(trainer.model.parameters(), lr=lr)
    x, y = trainer.splits.test
    for cb in callbacks:
        cb.on_train_begin(trainer)
    for step in range(steps):
        trainer.model.train()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(trainer.model(x), y)
        loss.backward()
        opt.step()
        for cb in callbacks:
            cb.on_batch_end(trainer, step, loss.item())
    for cb in callbacks:
        cb.on_train_end(trainer)


def _eval_logits(model, x):
    # an independent eval-mode forward pass: BN with running statistics, no dropout
    lin1, bn, _, _, lin2 = model
    h = x.numpy() @ lin1.weight.detach().numpy().T + lin1.bias.detach().numpy()
    h = (h - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + bn.eps)
    h = np.tanh(h * bn.weight.detach().numpy() + bn.bias.detach().numpy())
    return h @ lin2.weight.detach().numpy().T + lin2.bias.detach().numpy()


def test_average_probabilities_is_the_mean_softmax_in_eval_mode():
    models = [_net(s) for s in range(3)]
    for m in models:
        m.train()(torch.randn(16, 4, dtype=torch.float64))  # move BN running stats away from (0, 1)
    x = torch.randn(10, 4, dtype=torch.float64)
    got = average_probabilities(models, x, batch_size=3).numpy()
    expected = np.mean([_softmax(_eval_logits(m, x)) for m in models], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert all(m.training for m in models)  # modes restored


def test_ensemble_accuracy_uses_argmax_of_the_average():
    models = [_net(s) for s in range(4)]
    x = torch.randn(50, 4, dtype=torch.float64)
    p = np.mean([_softmax(_eval_logits(m.eval(), x)) for m in models], axis=0)
    y = torch.as_tensor(p.argmax(-1))
    y[:10] = (y[:10] + 1) % 3
    assert ensemble_accuracy(models, x, y) == pytest.approx(0.8)


def test_average_of_no_models():
    with pytest.raises(ValueError, match="models must hold at least one model, got 0"):
        average_probabilities([], torch.zeros(2, 4))


def test_ema_follows_its_recurrence():
    decay, steps = 0.9, 6
    trainer = _fake_trainer(_net(0))
    history = []

    class Record:
        def on_train_begin(self, trainer): ...
        def on_batch_end(self, trainer, step, loss):
            history.append([p.detach().numpy().copy() for p in trainer.model.parameters()])
        def on_train_end(self, trainer): ...

    ema = EMA(decay)
    _train(trainer, [Record(), ema], steps)
    expected = history[0]  # the first update copies the weights
    for params in history[1:]:
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, params, strict=True)]
    for got, want in zip(ema.averaged_model.module.parameters(), expected, strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10)
    # buffers (batch-norm running mean) are averaged as well, so they differ from the live model's
    assert not torch.equal(ema.averaged_model.module[1].running_mean, trainer.model[1].running_mean)
    summary = ema.summary()
    assert summary["decay"] == decay and 0.0 <= summary["ema_test_accuracy"] <= 1.0


@pytest.mark.parametrize("decay", [-0.1, 1.0, 2, "0.9"])
def test_ema_bad_decay(decay):
    with pytest.raises(ValueError, match=r"invalid ema=.*: must be in \[0, 1\)"):
        EMA(decay)


def test_snapshot_cycles_split_the_epochs():
    assert snapshot_cycle_epochs(10, 3) == [4, 3, 3]
    assert snapshot_cycle_epochs(6, 6) == [1] * 6
    for epochs in range(2, 30):
        for k in range(2, epochs + 1):
            lengths = snapshot_cycle_epochs(epochs, k)
            assert sum(lengths) == epochs and len(lengths) == k and max(lengths) - min(lengths) <= 1
    assert snapshot_cycle_end_steps(10, 3, 5) == [20, 35, 50]


@pytest.mark.parametrize("epochs, k, match", [
    (10, 1, r"invalid snapshots=1: must be an integer >= 2 \(one snapshot is no ensemble\)"),
    (10, 0, r"invalid snapshots=0: must be an integer >= 2"),
    (3, 4, r"invalid snapshots=4: must be at most epochs=3"),
    (0, 2, r"invalid epochs=0: must be a positive integer"),
])
def test_snapshot_cycles_bad_input(epochs, k, match):
    with pytest.raises(ValueError, match=match):
        snapshot_cycle_epochs(epochs, k)


def test_snapshots_copy_the_weights_at_each_cycle_end():
    trainer = _fake_trainer(_net(1))
    weights_after = {}

    class Record:
        def on_train_begin(self, trainer): ...
        def on_batch_end(self, trainer, step, loss):
            weights_after[step + 1] = copy.deepcopy(trainer.model.state_dict())
        def on_train_end(self, trainer): ...

    snaps = Snapshots(3, [2, 5, 9])
    _train(trainer, [Record(), snaps], steps=9)
    assert snaps.taken_at == [2, 5, 9] and len(snaps.state_dicts) == 3
    for state, step in zip(snaps.state_dicts, (2, 5, 9), strict=True):
        for name, tensor in state.items():
            assert torch.equal(tensor, weights_after[step][name])
    assert not torch.equal(snaps.state_dicts[0]["0.weight"], snaps.state_dicts[1]["0.weight"])
    # summary: the snapshot ensemble and its members, evaluated independently here
    x, y = trainer.splits.test
    members = models_from_state_dicts(_net(9), snaps.state_dicts)
    probs = [_softmax(_eval_logits(m, x)) for m in members]
    accs = [(p.argmax(-1) == y.numpy()).mean() for p in probs]
    summary = snaps.summary()
    assert summary["member_test_accuracies"] == pytest.approx(accs)
    assert summary["last_snapshot_test_accuracy"] == pytest.approx(accs[-1])
    ensemble = (np.mean(probs, 0).argmax(-1) == y.numpy()).mean()
    assert summary["ensemble_test_accuracy"] == pytest.approx(ensemble)
    assert summary["k"] == 3 and summary["cycle_end_steps"] == [2, 5, 9]


@pytest.mark.parametrize("k, ends, match", [
    (1, [3], r"invalid snapshots=1: must be an integer >= 2"),
    (3, [2, 4], r"invalid cycle_end_steps=\[2, 4\]: must be k=3 steps"),
    (2, [4, 4], r"invalid cycle_end_steps=\[4, 4\]: must be increasing positive integers"),
    (2, [0, 4], r"invalid cycle_end_steps=\[0, 4\]: must be increasing positive integers"),
])
def test_snapshots_bad_input(k, ends, match):
    with pytest.raises(ValueError, match=match):
        Snapshots(k, ends)


def test_ema_and_snapshots_resume_from_a_weights_only_checkpoint(tmp_path):
    """Train 4 steps, checkpoint the callbacks' state, resume for 4 more: same as 8 uninterrupted steps."""
    def run(callbacks, model, steps, resume_from=None):
        trainer = _fake_trainer(model)
        if resume_from is not None:
            for cb, state in zip(callbacks, resume_from, strict=True):
                cb.load_state_dict(state)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = trainer.splits.test
        for cb in callbacks:
            cb.on_train_begin(trainer)
        for step in steps:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            for cb in callbacks:
                cb.on_batch_end(trainer, step, 0.0)
        return callbacks

    straight = run([EMA(0.8), Snapshots(2, [3, 8])], _net(5), range(8))
    model = _net(5)
    first = run([EMA(0.8), Snapshots(2, [3, 8])], model, range(4))
    torch.save([cb.state_dict() for cb in first], tmp_path / "cb.pt")
    saved = torch.load(tmp_path / "cb.pt", weights_only=True)
    resumed = run([EMA(0.8), Snapshots(2, [3, 8])], model, range(4, 8), resume_from=saved)
    for a, b in zip(straight[0].averaged_model.state_dict().values(),
                    resumed[0].averaged_model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    assert resumed[1].taken_at == [3, 8]
    for a, b in zip(straight[1].state_dicts, resumed[1].state_dicts, strict=True):
        for name in a:
            torch.testing.assert_close(a[name], b[name])
