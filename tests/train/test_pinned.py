"""Behaviour of `descent train` pinned before the redesign of the training job, each against independent truth.

Training is driven only through the command line (in-process), and only its outputs are read: metrics.json,
history.csv, losses.csv and checkpoint.pt. What the checkpoint holds inside is known to ONE function,
``checkpoint_weights``: a new checkpoint layout only has to adapt that function.

Every expected value is recomputed here, by hand or with torch's own reference implementation (the model
rebuilt from the checkpoint's weights and evaluated on the test split, torch.optim.SGD with
clip_grad_norm_, ReduceLROnPlateau, the cosine closed form, the EMA recurrence), never taken from a number
the run printed. Each test first checks that its settings discriminate (e.g. that best and last weights
score differently), so that the bug it guards against would make it fail.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from descent import data
from descent.cli import main
from descent.models import MLP, initialize
from descent.train import checkpoint

# ------------------------------------------------------------------------------------ checkpoint layout


def checkpoint_weights(path: Path, which: str) -> dict[str, torch.Tensor]:
    """The state dict of a plain ``MLP`` held by the checkpoint at ``path``: ``which`` is "final" (the weights
    after the last epoch), "best" (the best-validation weights) or "ema" (the exponential moving average).
    The only place in this file that knows the checkpoint's internal layout."""
    ckpt = checkpoint.load(path)  # a checksummed wrapper around torch.save, loaded with weights_only=True
    trainer = ckpt["trainer"]
    if which == "final":
        return dict(ckpt["model"])
    if which == "best":
        return dict(trainer["best_state"])
    if which == "ema":
        averaged = trainer["callbacks"]["ema"]["averaged_model"]  # callback states are kept by name
        # AveragedModel's state dict: the network under "module." plus its "n_averaged" counter
        return {k[len("module."):]: v for k, v in averaged.items() if k.startswith("module.")}
    raise ValueError(f"unknown weights {which!r}")


# ------------------------------------------------------------------------------------ running and reading

SEED, VAL_FRACTION, WIDTH, DEPTH = 0, 0.1, 32, 1
COMMON = ["--data", "spiral", "--model", "mlp", "--width", WIDTH, "--depth", DEPTH, "--seed", SEED,
          "--val-fraction", VAL_FRACTION, "--threads", 1, "--no-progress", "--no-monitor"]


def train(out: Path, *argv: object, capsys: pytest.CaptureFixture | None = None) -> Path:
    rc = main(["train", "--out", str(out), *(str(a) for a in COMMON), *(str(a) for a in argv)])
    err = capsys.readouterr().err if capsys is not None else ""
    assert rc == 0, err
    return out


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def history(out: Path) -> list[dict[str, float]]:
    with open(out / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def losses(out: Path) -> list[float]:
    with open(out / "losses.csv", newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def splits(train_subset: int | None = None) -> data.Splits:
    return data.load("spiral", seed=SEED, val_fraction=VAL_FRACTION, train_subset=train_subset)


def model_with(state: dict[str, torch.Tensor], s: data.Splits) -> nn.Module:
    model = MLP(s.input_shape[0], s.num_classes, width=WIDTH, depth=DEPTH)
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return int((model(x).argmax(1) == y).sum()) / len(y)


# ------------------------------------------------------------------------------------ 1. best weights


def test_test_accuracy_is_that_of_the_best_validation_weights(tmp_path, capsys):
    # high-lr minibatch SGD: validation accuracy fluctuates, so the best epoch is not the last one
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", 0.5, "--batch-size", 32, "--epochs", 12,
                capsys=capsys)
    s, h, m = splits(), history(out), metrics(out)
    best = model_with(checkpoint_weights(out / "checkpoint.pt", "best"), s)
    final = model_with(checkpoint_weights(out / "checkpoint.pt", "final"), s)
    val_accuracies = [r["val_accuracy"] for r in h]
    best_epoch = max(range(len(h)), key=lambda e: (val_accuracies[e], -e))  # the first epoch of the maximum
    best_val, final_val = accuracy(best, *s.val), accuracy(final, *s.val)
    best_test, final_test = accuracy(best, *s.test), accuracy(final, *s.test)
    # the "best" weights really are the best-validation ones (a copy, not the live weights)
    assert best_val == pytest.approx(max(val_accuracies), abs=1e-12), (best_val, val_accuracies)
    assert final_val == pytest.approx(val_accuracies[-1], abs=1e-12), (final_val, val_accuracies)
    assert m["best_epoch"] == best_epoch
    # the settings discriminate: the best epoch is not the last, and the two weights score differently on test
    assert best_epoch != len(h) - 1, val_accuracies
    assert best_test != final_test
    # the reported test accuracy is that of the best weights; the last weights' is the "final" one
    assert m["test_accuracy"] == pytest.approx(best_test, abs=1e-9)
    assert m["final_test_accuracy"] == pytest.approx(final_test, abs=1e-9)


# ------------------------------------------------------------------------------------ 2, 5. by hand


def hand_trajectory(steps: int, lr: float, clip: float | None = None) -> tuple[list[float], list[dict]]:
    """Full-batch SGD on the spiral from the run's initialization (torch.manual_seed(seed) before the data
    and the model are built, He init), with torch.optim.SGD and clip_grad_norm_: the loss before each
    step and the weights after each step."""
    torch.manual_seed(SEED)
    s = splits()
    model = initialize(MLP(s.input_shape[0], s.num_classes, width=WIDTH, depth=DEPTH), "he")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = s.train
    step_losses, weights = [], []
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        step_losses.append(float(loss.detach()))
        weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return step_losses, weights


def assert_weights_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor], **tol: float) -> None:
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], **tol, msg=lambda m, k=k: f"{k}: {m}")


def test_clip_grad_norm_is_applied(tmp_path, capsys):
    epochs, lr, clip = 3, 0.5, 0.01
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", lr, "--batch-size", "full", "--epochs", epochs,
                "--clip-grad-norm", clip, capsys=capsys)
    step_losses, weights = hand_trajectory(epochs, lr, clip)
    # same initialization and same data: the losses before each step agree (the first one needs no update)
    assert losses(out) == pytest.approx(step_losses, rel=1e-5)
    got = checkpoint_weights(out / "checkpoint.pt", "final")
    assert_weights_close(got, weights[-1], rtol=1e-5, atol=1e-6)
    # the settings discriminate: without clipping the weights would be far away
    _, unclipped = hand_trajectory(epochs, lr)
    assert max(float((unclipped[-1][k] - got[k]).abs().max()) for k in got) > 1e-2


def test_ema_weights_follow_the_recurrence(tmp_path, capsys):
    epochs, lr, decay = 4, 0.5, 0.8
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", lr, "--batch-size", "full", "--epochs", epochs,
                "--ema", decay, capsys=capsys)
    step_losses, weights = hand_trajectory(epochs, lr)
    assert losses(out) == pytest.approx(step_losses, rel=1e-5)
    # theta_ema <- decay * theta_ema + (1 - decay) * theta after every step; the first step copies theta
    ema = dict(weights[0])
    for w in weights[1:]:
        ema = {k: decay * ema[k] + (1 - decay) * w[k] for k in ema}
    assert_weights_close(checkpoint_weights(out / "checkpoint.pt", "ema"), ema, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ 3. plateau


def test_plateau_steps_on_the_validation_loss(tmp_path, capsys):
    lr = 0.5
    # 40 training examples: the validation loss soon stops improving, so the rate drops within the run
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", lr, "--batch-size", 32, "--epochs", 20,
                "--train-subset", 40, "--plateau", capsys=capsys)
    h = history(out)
    # torch's ReduceLROnPlateau with the documented defaults (factor 0.5, patience 5), fed the validation loss;
    # the history records the rate each epoch trained with, i.e. before that epoch's plateau step
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=5)
    expected = []
    for r in h:
        expected.append(opt.param_groups[0]["lr"])
        plateau.step(r["val_loss"])
    assert len(h) == 20
    assert min(expected) < lr  # the settings discriminate: the rate does drop
    assert [r["lr"] for r in h] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------------ 4. cosine


@pytest.mark.parametrize("per", ["epoch", "step"])
def test_cosine_schedule_length_is_in_its_own_unit(tmp_path, capsys, per):
    lr, epochs, batch = 0.1, 6, 128
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", lr, "--batch-size", batch, "--epochs", epochs,
                "--schedule", "cosine", "--schedule-per", per, capsys=capsys)
    steps_per_epoch = math.ceil(len(splits().train[0]) / batch)
    assert steps_per_epoch > 1 and len(losses(out)) == epochs * steps_per_epoch

    def cosine(t: int, total: int) -> float:
        return lr * (1 + math.cos(math.pi * t / total)) / 2

    # history records the rate used by each epoch's last optimizer step
    if per == "epoch":  # the rate is constant within epoch e: t = e of T = epochs
        expected = [cosine(e, epochs) for e in range(epochs)]
    else:  # the last step of epoch e is t = (e + 1) * steps_per_epoch - 1 of T = epochs * steps_per_epoch
        expected = [cosine((e + 1) * steps_per_epoch - 1, epochs * steps_per_epoch) for e in range(epochs)]
    assert [r["lr"] for r in history(out)] == pytest.approx(expected, rel=1e-9, abs=1e-12)


# ------------------------------------------------------------------------------------ 5. EMA summary


def test_ema_summary_evaluates_the_averaged_weights(tmp_path, capsys):
    out = train(tmp_path / "run", "--optimizer", "sgd", "--lr", 0.5, "--batch-size", 32, "--epochs", 6,
                "--ema", 0.9, capsys=capsys)
    s, m = splits(), metrics(out)
    ema = accuracy(model_with(checkpoint_weights(out / "checkpoint.pt", "ema"), s), *s.test)
    final = accuracy(model_with(checkpoint_weights(out / "checkpoint.pt", "final"), s), *s.test)
    assert ema != final  # the settings discriminate: the averaged and the live weights score differently
    assert m["ema"]["decay"] == 0.9
    assert m["ema"]["ema_test_accuracy"] == pytest.approx(ema, abs=1e-6)  # float32 mean in the summary
