"""`descent lab landscape`: filter normalization, the grid's centre against the run's own weights, the PCA
against NumPy's SVD, and the error the picture reports about itself."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from descent.config import TrainConfig
from descent.lab.landscape import filter_normalized
from descent.train import checkpoint, run_training
from descent.train.weights import load as load_weights


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_training(TrainConfig.of(data="spiral", model="mlp", width=16, depth=1, optimizer="sgd", lr=0.5, epochs=4,
                                threads=1, progress=False, monitor=False), out)
    return out


@pytest.mark.parametrize("bias_bn", ["zero", "whole"])
def test_filter_normalization_gives_each_filter_its_own_norm(bias_bn):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.Flatten(), nn.Linear(8, 3))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
    d = filter_normalized(model, torch.Generator().manual_seed(1), bias_bn)
    start = 0
    for p in model.parameters():
        part = d[start: start + p.numel()].view_as(p)
        start += p.numel()
        if p.dim() > 1:  # every output filter of the direction has the norm of the weights' filter
            torch.testing.assert_close(part.flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1))
        elif bias_bn == "zero":
            assert not part.any()
        else:
            assert float(part.norm()) == pytest.approx(float(p.detach().norm()), rel=1e-5)
    assert start == len(d)


def test_the_landscape_reports_the_run_and_its_own_error(run_dir, tmp_path, run_cli):
    code, out, err = run_cli("lab", "landscape", "--run", run_dir, "--out", tmp_path / "land")
    assert code == 0, err
    land = tmp_path / "land"
    for name in ("landscape.csv", "landscape.png", "trajectory.png", "trajectory.csv", "landscape.json"):
        assert (land / name).is_file(), name
    with open(land / "landscape.csv", encoding="utf-8") as f:
        grid = list(csv.DictReader(f))
    assert len(grid) == 21 * 21 and list(grid[0]) == ["alpha", "beta", "loss"]
    result = json.loads((land / "landscape.json").read_text())

    # the centre of the grid is the run's final weights: their loss, computed independently of the tool
    saved = checkpoint.load(run_dir / "checkpoint.pt")
    from descent import data, models
    cfg = TrainConfig.from_dict(saved["config"])
    splits = data.load("spiral", seed=cfg.run.seed)
    model = models.build_model(cfg.model, splits)
    model.load_state_dict(saved["model"])
    x, y = splits.train  # 270 examples, fewer than --examples: the loss is over all of them
    with torch.no_grad():
        expected = float(nn.functional.cross_entropy(model.eval()(x), y))
    centre = next(float(r["loss"]) for r in grid if float(r["alpha"]) == 0 and float(r["beta"]) == 0)
    assert centre == pytest.approx(expected, rel=1e-6)

    # the PCA directions against NumPy's SVD of the per-epoch weights about the final ones
    kept = load_weights(run_dir / "weights.pt")["weights"].double().numpy()
    final = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    s = np.linalg.svd(kept - final, compute_uv=False)
    trajectory = result["trajectory"]
    np.testing.assert_allclose(trajectory["explained_variance"], (s ** 2 / (s ** 2).sum())[:2], rtol=1e-6)

    # along the path: the true loss beside the plane's; at the last epoch both are the centre's loss
    path = trajectory["path"]
    assert [r["epoch"] for r in path] == [0, 1, 2, 3, 4]
    assert path[-1]["true_loss"] == pytest.approx(expected, rel=1e-3)  # float16 weights
    assert path[-1]["plane_loss"] == pytest.approx(expected, rel=1e-3)
    diffs = [abs(r["plane_loss"] - r["true_loss"]) for r in path]
    assert result["path_error"]["max_abs_difference"] == pytest.approx(max(diffs))
    assert "max |difference|" in out


def test_a_folder_that_is_not_a_run_is_refused_without_leaving_output(tmp_path, run_cli):
    code, out, err = run_cli("lab", "landscape", "--run", tmp_path / "nothing", "--out", tmp_path / "land")
    assert code == 2 and err.count("\n") == 1 and "no checkpoint.pt" in err
    assert not (tmp_path / "land").exists()
