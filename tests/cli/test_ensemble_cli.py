"""`descent ensemble`: checkpoints rebuilt with the lead's data/models, probability averaging checked against
NumPy, and the one-line errors for bad run folders."""

import argparse
import json

import numpy as np
import pytest
import torch

from descent import data
from descent.cli import ensemble as ensemble_cli
from descent.config import TrainConfig
from descent.errors import DescentError
from descent.models import build_model
from descent.train import checkpoint, run_training


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _write_run(run_dir, seed, best_shift=None):
    """A checkpoint in the trainer's format for a randomly initialised spiral MLP; returns its two weight sets."""
    cfg = TrainConfig.of(data="spiral", model="mlp", width=16, depth=1, seed=seed)
    splits = data.load("spiral", seed=seed)
    torch.manual_seed(seed)
    last = build_model(cfg.model, splits).state_dict()
    best = None
    if best_shift is not None:
        best = {k: v + best_shift if v.is_floating_point() else v for k, v in last.items()}
    run_dir.mkdir()
    checkpoint.save(run_dir / "checkpoint.pt", cfg.to_dict(), {"model": last, "best_state": best})
    return splits, last, best


def _numpy_logits(state, x):
    h = np.maximum(x @ state["net.1.weight"].numpy().T + state["net.1.bias"].numpy(), 0)
    return h @ state["net.3.weight"].numpy().T + state["net.3.bias"].numpy()


@pytest.mark.parametrize("weights", ["best", "last"])
def test_ensemble_of_checkpoints_matches_numpy(tmp_path, run_cli, weights):
    runs = []
    for seed in range(3):
        splits, last, best = _write_run(tmp_path / f"run{seed}", seed, best_shift=0.05 * (seed + 1))
        runs.append((splits, best if weights == "best" else last))
    code, out, err = run_cli("ensemble", *(tmp_path / f"run{s}" for s in range(3)), "--out", tmp_path / "ens",
                             "--weights", weights)
    assert code == 0, err
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    probs = [_softmax(_numpy_logits(state, splits.test[0].numpy())) for splits, state in runs]
    y = runs[0][0].test[1].numpy()
    assert metrics["ensemble_test_accuracy"] == pytest.approx((np.mean(probs, 0).argmax(-1) == y).mean())
    member = [m["test_accuracy"] for m in metrics["members"]]
    assert member == pytest.approx([(p.argmax(-1) == y).mean() for p in probs])
    assert metrics["n_members"] == 3 and metrics["n_test"] == len(y) and "ensemble of 3" in out


def test_ensemble_of_real_training_runs(tmp_path, run_cli):
    for seed in (0, 1):
        cfg = TrainConfig.of(data="spiral", model="mlp", width=16, depth=1, epochs=2, seed=seed, monitor=False,
                          progress=False)
        run_training(cfg, tmp_path / f"r{seed}")
    code, _, err = run_cli("ensemble", tmp_path / "r0", tmp_path / "r1", "--out", tmp_path / "ens")
    assert code == 0, err
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    for seed, member in enumerate(metrics["members"]):
        trained = json.loads((tmp_path / f"r{seed}" / "metrics.json").read_text())
        assert member["test_accuracy"] == pytest.approx(trained["test_accuracy"])


def test_members_must_share_a_test_set(tmp_path, run_cli):
    _write_run(tmp_path / "a", 0)
    cfg = TrainConfig.of(data="digits", model="mlp", width=8, depth=1)
    model = build_model(cfg.model, data.load("digits"))
    checkpoint.save((tmp_path / "b").mkdir() or tmp_path / "b" / "checkpoint.pt", cfg.to_dict(),
                    {"model": model.state_dict(), "best_state": None})
    code, _, err = run_cli("ensemble", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "ens")
    assert code == 2
    assert "was tested on another test set than" in err and err.count("\n") == 1


def test_checkpoint_that_does_not_fit_its_config(tmp_path, run_cli):
    _write_run(tmp_path / "a", 0)
    ckpt = checkpoint.load(tmp_path / "a" / "checkpoint.pt")
    ckpt["config"]["model"]["width"] = 32
    checkpoint.save(tmp_path / "a" / "checkpoint.pt", ckpt["config"], ckpt["trainer"])
    code, _, err = run_cli("ensemble", tmp_path / "a", "--out", tmp_path / "ens")
    assert code == 2 and "does not fit the model its config builds" in err


def test_cli_reports_a_missing_run_in_one_line(tmp_path, run_cli):
    code, out, err = run_cli("ensemble", tmp_path / "nope", "--out", tmp_path / "ens")
    assert code == 2
    assert err.startswith("descent ensemble: error: no checkpoint in") and err.count("\n") == 1


def _parse(argv):
    parser = argparse.ArgumentParser()
    ensemble_cli.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(DescentError, match=r"no checkpoint in '.*run1': '.*checkpoint.pt' does not exist"):
        ensemble_cli.load_checkpoint(tmp_path / "run1")


def test_corrupt_checkpoint(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a torch file")
    with pytest.raises(DescentError, match=r"checkpoint '.*checkpoint.pt' is damaged"):
        ensemble_cli.load_checkpoint(tmp_path)


class _Pickled:
    pass


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"model": {}, "config": _Pickled()}, tmp_path / "checkpoint.pt")
    with pytest.raises(DescentError, match=r"checkpoint .* contains code \(.*_Pickled\) and was not loaded: "
                                           r"a descent checkpoint holds only tensors and plain values$") as e:
        ensemble_cli.load_checkpoint(tmp_path)
    assert "weights_only" not in str(e.value)


@pytest.mark.parametrize("content", [[1, 2], {"model": {}}, {"config": {}}])
def test_not_a_descent_checkpoint(tmp_path, content):
    torch.save(content, tmp_path / "checkpoint.pt")
    with pytest.raises(DescentError, match=r"is not a descent checkpoint \(format 2\)"):
        ensemble_cli.load_checkpoint(tmp_path)


def test_bad_device(tmp_path):
    with pytest.raises(ValueError, match="invalid device='gpu0': must be a torch device"):
        ensemble_cli.ensemble_metrics([str(tmp_path)], device="gpu0")


def test_needs_out_and_a_run_dir():
    with pytest.raises(SystemExit):
        _parse(["ensemble", "run1"])
    with pytest.raises(SystemExit):
        _parse(["ensemble", "--out", "x"])
