"""`descent lr-find`: the suggestion rule on curves with known answers, spikes and flat curves; the command's
files; the SGD cross-check's lambda_max against the dense Hessian."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from descent.config import TrainConfig
from descent.hessian import flatten, unflatten
from descent.train.job import build
from descent.train.lrfind import stability_limit, suggest
from descent.train.resolve import resolve

LRS = [10 ** (-5 + 6 * i / 99) for i in range(100)]


def _curve(lr):
    """Falls fastest (in log lr) at 1e-2, reaches its minimum near 0.5, then blows up."""
    return 0.3 + 2.0 / (1 + (lr / 1e-2) ** 1.5) + (30 * (lr - 0.5) ** 2 if lr > 0.5 else 0.0)


def test_the_suggestion_is_a_third_of_the_minimum_but_never_below_the_steepest_point():
    result = suggest(LRS, [_curve(lr) for lr in LRS])
    assert result["lr_steepest"] == pytest.approx(1e-2, rel=0.25)  # the logistic's centre in log lr
    assert 0.3 < result["lr_min_loss"] <= 0.6
    assert result["suggested_lr"] == pytest.approx(result["lr_min_loss"] / 3)
    cliff = [0.3 + 2.0 / (1 + (lr / 0.3) ** 8) + (30 * (lr - 0.5) ** 2 if lr > 0.5 else 0.0) for lr in LRS]
    steep = suggest(LRS, cliff)  # the loss falls only just before its minimum: the steepest point is the floor
    assert steep["suggested_lr"] == steep["lr_steepest"] > steep["lr_min_loss"] / 3
    assert result["warnings"] == []


def test_spikes_do_not_move_the_suggestion():
    clean = suggest(LRS, [_curve(lr) for lr in LRS])
    spiky = [_curve(lr) * (25.0 if i in (20, 47, 61) else 1.0) for i, lr in enumerate(LRS)]
    spiky[33] = math.nan
    result = suggest(LRS, spiky)
    assert result["suggested_lr"] == pytest.approx(clean["suggested_lr"], rel=0.15)
    assert result["lr_min_loss"] == pytest.approx(clean["lr_min_loss"], rel=0.15)


def test_a_flat_curve_gets_a_warning_and_no_suggestion():
    result = suggest(LRS, [0.05 + 0.001 * math.sin(i) for i in range(len(LRS))])
    assert result["suggested_lr"] is None
    assert any("too flat to decide" in w for w in result["warnings"])


def test_stability_limits_of_the_gradient_descent_family():
    assert stability_limit("sgd", {}, 4.0) == 0.5
    assert stability_limit("momentum", {"momentum": 0.9}, 4.0) == pytest.approx(2 * 1.9 / 4)
    assert stability_limit("nesterov", {"momentum": 0.5}, 1.0) == pytest.approx(3.0 / 2.0)
    assert stability_limit("adam", {}, 4.0) is None


def test_the_command_writes_its_files_and_checks_sgd_against_the_dense_hessian(tmp_path, run_cli):
    flags = ["--data", "spiral", "--model", "mlp", "--width", "8", "--depth", "1", "--seed", "3", "--threads", "1"]
    code, out, err = run_cli("lr-find", *flags, "--optimizer", "sgd", "--steps", "60", "--lr-min", "1e-4",
                             "--lr-max", "100", "--out", tmp_path / "lrf")
    assert code == 0, err
    found = json.loads((tmp_path / "lrf" / "lr_find.json").read_text())
    with open(tmp_path / "lrf" / "lr_find.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["lr", "loss", "smoothed_loss"] and len(rows) == found["steps_run"] <= 60
    assert float(rows[0]["lr"]) == pytest.approx(1e-4)
    assert (tmp_path / "lrf" / "lr_find.png").is_file() and "suggested lr" in out

    # lambda_max at initialization: the dense Hessian of the full training loss (spiral: 270 < 1000 examples)
    cfg = TrainConfig.of(data="spiral", model="mlp", width=8, depth=1, seed=3, threads=1, optimizer="sgd",
                         checkpoint_every=0, monitor=False)
    model = build(resolve(cfg), tmp_path / "unused")[0].model
    x, y = build(resolve(cfg), tmp_path / "unused")[0].splits.train
    names, params = [n for n, _ in model.named_parameters()], list(model.parameters())
    dense = torch.autograd.functional.hessian(
        lambda w: nn.functional.cross_entropy(functional_call(model, dict(zip(names, unflatten(w, params))), (x,)), y),
        flatten(params).detach())
    lam = float(torch.linalg.eigvalsh(dense)[-1])
    assert found["lambda_max_at_init"] == pytest.approx(lam, rel=1e-4)
    assert found["stability_limit"] == pytest.approx(2 / lam, rel=1e-4)
    assert found["registry_lr"] == 0.1


def test_adam_gets_no_stability_check_and_lbfgs_is_refused(tmp_path, run_cli):
    flags = ["--data", "spiral", "--model", "mlp", "--width", "8", "--depth", "1", "--threads", "1", "--steps", "30"]
    code, _, err = run_cli("lr-find", *flags, "--optimizer", "adam", "--out", tmp_path / "adam")
    assert code == 0, err
    assert "stability_limit" not in json.loads((tmp_path / "adam" / "lr_find.json").read_text())
    code, _, err = run_cli("lr-find", *flags, "--optimizer", "lbfgs", "--out", tmp_path / "lbfgs")
    assert code == 2 and err.startswith("descent lr-find: error: invalid optimizer='lbfgs': must be a first-order")
    assert not (tmp_path / "lbfgs").exists()
