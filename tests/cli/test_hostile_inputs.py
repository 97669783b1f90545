"""Hostile command lines, every command: exit status 2, exactly one line on stderr, no traceback, and no
output folder left behind (issue 12, items 6 and 9).

Each case runs in-process through :func:`descent.cli.main`. ``{out}`` in a case is replaced by a fresh folder
that does not exist yet; a case without ``--out`` gets ``--out {out}`` appended (gradcheck has no ``--out``).
``{tmp}`` is the test's own temporary folder.
"""

from __future__ import annotations

import pytest

from descent.cli import main

FAST = ["--data", "spiral", "--model", "mlp", "--epochs", "1", "--threads", "1", "--no-progress"]
TRAIN = ["train", *FAST]
COMPARE = ["compare", "--optimizers", "sgd", *FAST]
SEARCH = ["search", "--trials", "1", *FAST]
TRAJ = ["lab", "trajectories", "--no-gif", "--steps", "3"]


def _numeric(flag: str, *values: str) -> list:
    return [pytest.param([*TRAIN, f"--{flag}", v], id=f"train-{flag}={v}") for v in values]


NUMERIC = [
    *_numeric("lr", "0", "-1", "nan", "inf"),
    *_numeric("momentum", "-0.5", "nan", "inf"),
    *_numeric("weight-decay", "-1", "nan", "inf"),
    *_numeric("val-fraction", "-0.1", "nan", "inf", "1"),
    *_numeric("train-subset", "0", "-3", "nan"),
    *_numeric("width", "0", "-1", "inf"),
    *_numeric("depth", "-1", "nan"),
    *_numeric("init-std", "0", "nan", "inf"),
    *_numeric("dropout", "-0.1", "nan", "1"),
    *_numeric("dropconnect", "-0.1", "nan", "inf"),
    *_numeric("batch-size", "0", "-1", "nan"),
    *_numeric("epochs", "0", "-1", "inf"),
    *_numeric("seed", "nan", "1.5"),
    *_numeric("clip-grad-norm", "0", "nan", "inf"),
    *_numeric("l2", "-1", "nan", "inf"),
    *_numeric("l1", "-1", "nan"),
    *_numeric("elastic-net", "-1", "inf"),
    *_numeric("elastic-beta", "-1", "nan"),
    *_numeric("snapshots", "0", "-2", "nan"),
    *_numeric("ema", "-0.1", "nan", "1"),
    *_numeric("checkpoint-every", "-1", "nan"),
    *_numeric("threads", "0", "-1", "nan"),
]

TRAIN_CASES = [
    # unknown names
    pytest.param([*TRAIN, "--data", "bogus"], id="train-data-unknown"),
    pytest.param([*TRAIN, "--optimizer", "bogus"], id="train-optimizer-unknown"),
    pytest.param([*TRAIN, "--model", "bogus"], id="train-model-unknown"),
    pytest.param([*TRAIN, "--activation", "bogus"], id="train-activation-unknown"),
    pytest.param([*TRAIN, "--init", "bogus"], id="train-init-unknown"),
    pytest.param([*TRAIN, "--loss", "bogus"], id="train-loss-unknown"),
    pytest.param([*TRAIN, "--schedule", "bogus"], id="train-schedule-unknown"),
    pytest.param([*TRAIN, "--schedule", "step:every=0,factor=0.5"], id="train-schedule-bad-value"),
    pytest.param([*TRAIN, "--schedule-per", "bogus"], id="train-schedule-per-unknown"),
    pytest.param([*TRAIN, "--augment", "bogus"], id="train-augment-unknown"),
    pytest.param(["train", "--data", "digits", "--model", "mlp", "--epochs", "1", "--no-progress", "--augment",
                  "crop=8"], id="train-crop-as-large-as-the-image"),
    pytest.param(["train", "--data", "mnist1d", "--model", "mlp", "--epochs", "1", "--no-progress", "--augment",
                  "shift=40"], id="train-shift-as-long-as-the-signal"),
    # --hyper
    pytest.param([*TRAIN, "--hyper", "lr=0.1"], id="train-hyper-lr"),
    pytest.param([*TRAIN, "--optimizer", "momentum", "--hyper", "momentum=0.9", "--momentum", "0.5"],
                 id="train-hyper-momentum-twice"),
    pytest.param([*TRAIN, "--hyper", "foo=1"], id="train-hyper-unknown"),
    pytest.param([*TRAIN, "--hyper", "garbage"], id="train-hyper-no-equals"),
    pytest.param([*TRAIN, "--optimizer", "adam", "--hyper", "betas=[1.5,0.9]"], id="train-hyper-betas"),
    pytest.param([*TRAIN, "--optimizer", "adam", "--hyper", "eps=-1"], id="train-hyper-eps"),
    pytest.param([*TRAIN, "--optimizer", "adam", "--momentum", "0.9"], id="train-momentum-for-adam"),
    # devices, data, output
    pytest.param([*TRAIN, "--device", "bogus"], id="train-device-bogus"),
    pytest.param([*TRAIN, "--device", "cuda"], id="train-device-cuda",
                 marks=pytest.mark.skipif("__import__('torch').cuda.is_available()", reason="has CUDA")),
    pytest.param([*TRAIN, "--data-dir", "{tmp}"], id="train-data-dir-for-builtin"),
    pytest.param(["train", "--data", "mnist", "--model", "mlp", "--epochs", "1", "--no-progress"],
                 id="train-mnist-without-data-dir"),
    pytest.param([*TRAIN, "--val-fraction", "0.9999"], id="train-empty-training-split"),
    pytest.param([*TRAIN, "--out", ""], id="train-out-empty"),
    pytest.param([*TRAIN, "--resume"], id="train-resume-without-checkpoint"),
    pytest.param([*TRAIN, "--plateau", "--schedule", "cosine"], id="train-plateau-with-schedule"),
    pytest.param([*TRAIN, "--snapshots", "1"], id="train-snapshots-1"),
    pytest.param([*TRAIN, "--snapshots", "5"], id="train-snapshots-more-than-epochs"),
    pytest.param([*TRAIN, "--weight-decay", "1e300"], id="train-weight-decay-1e300"),
    pytest.param([*TRAIN, "--width", "1000000000"], id="train-width-huge"),
    pytest.param(["train", "--data", "mnist1d", "--optimizer", "newton", "--epochs", "1", "--threads", "1",
                  "--no-progress"], id="train-newton-on-cnn"),
    pytest.param(["train", "--data", "mnist1d", "--model", "cnn", "--data", "spiral", "--epochs", "1",
                  "--no-progress"], id="train-cnn-on-vectors"),
]

COMPARE_CASES = [
    pytest.param(["compare", "--optimizers", "bogus", *FAST], id="compare-optimizer-unknown"),
    pytest.param(["compare", "--optimizers", ",", *FAST], id="compare-optimizers-empty"),
    pytest.param([*COMPARE, "--data", "bogus"], id="compare-data-unknown"),
    pytest.param([*COMPARE, "--epochs", "0"], id="compare-epochs-0"),
    pytest.param([*COMPARE, "--width", "nan"], id="compare-width-nan"),
    pytest.param([*COMPARE, "--device", "bogus"], id="compare-device-bogus"),
    pytest.param([*COMPARE, "--augment", "bogus"], id="compare-augment-unknown"),
    pytest.param([*COMPARE, "--schedule", "bogus"], id="compare-schedule-unknown"),
    pytest.param([*COMPARE, "--val-fraction", "0.9999"], id="compare-empty-training-split"),
    pytest.param([*COMPARE, "--out", ""], id="compare-out-empty"),
]

SEARCH_CASES = [
    pytest.param([*SEARCH, "--space", "lr=1:0"], id="search-space-reversed"),
    pytest.param([*SEARCH, "--space", "lr=-1:1:log"], id="search-space-log-negative"),
    pytest.param([*SEARCH, "--space", "foo=1:2"], id="search-space-unknown-name"),
    pytest.param([*SEARCH, "--space", "lr=1e-4:1e-1:log,dropout=0.1|1.5"], id="search-space-bad-choice"),
    pytest.param([*SEARCH, "--space", "lr=0:1"], id="search-space-lr-zero"),
    pytest.param([*SEARCH, "--space", "lr=nan:1"], id="search-space-nan"),
    pytest.param([*SEARCH, "--space", "dropout=0.1:1.5"], id="search-space-dropout-range"),
    pytest.param([*SEARCH, "--space", ""], id="search-space-empty"),
    pytest.param([*SEARCH, "--storage", ""], id="search-storage-empty"),
    pytest.param([*SEARCH, "--trials", "0"], id="search-trials-0"),
    pytest.param([*SEARCH, "--method", "bogus"], id="search-method-unknown"),
    pytest.param([*SEARCH, "--data", "bogus"], id="search-data-unknown"),
    pytest.param([*SEARCH, "--hyper", "lr=0.1"], id="search-hyper-lr"),
    pytest.param([*SEARCH, "--optimizer", "bogus"], id="search-optimizer-unknown"),
    pytest.param([*SEARCH, "--out", ""], id="search-out-empty"),
]

ENSEMBLE_CASES = [
    pytest.param(["ensemble", "{tmp}/empty_run"], id="ensemble-no-checkpoint"),
    pytest.param(["ensemble", "{tmp}/missing_run"], id="ensemble-missing-folder"),
    pytest.param(["ensemble", "{tmp}/empty_run", "--device", "bogus"], id="ensemble-device-bogus"),
    pytest.param(["ensemble", "{tmp}/empty_run", "--weights", "bogus"], id="ensemble-weights-unknown"),
    pytest.param(["ensemble"], id="ensemble-no-run-dir"),
]

GRADCHECK_CASES = [
    pytest.param(["gradcheck", "--only", "bogus"], id="gradcheck-only-unknown"),
    pytest.param(["gradcheck", "--only", ","], id="gradcheck-only-empty"),
    pytest.param(["gradcheck", "--only", "svm,bogus"], id="gradcheck-only-one-unknown"),
    pytest.param(["gradcheck", "--seed", "nan"], id="gradcheck-seed-nan"),
    pytest.param(["gradcheck", "--seed", "x"], id="gradcheck-seed-text"),
    pytest.param(["gradcheck", "--bogus"], id="gradcheck-unknown-flag"),
]

LAB_CASES = [
    pytest.param([*TRAJ, "--steps", "0"], id="trajectories-steps-0"),
    pytest.param([*TRAJ, "--steps", "-1"], id="trajectories-steps-negative"),
    pytest.param([*TRAJ, "--start=1e308,0"], id="trajectories-start-huge"),
    pytest.param([*TRAJ, "--start=nan,0"], id="trajectories-start-nan"),
    pytest.param([*TRAJ, "--start=inf,0"], id="trajectories-start-inf"),
    pytest.param([*TRAJ, "--start", "1"], id="trajectories-start-one-number"),
    pytest.param([*TRAJ, "--lr", "0"], id="trajectories-lr-0"),
    pytest.param([*TRAJ, "--noise", "nan"], id="trajectories-noise-nan"),
    pytest.param([*TRAJ, "--function", "bogus"], id="trajectories-function-unknown"),
    pytest.param([*TRAJ, "--optimizers", "bogus"], id="trajectories-optimizer-unknown"),
    pytest.param([*TRAJ, "--optimizers", ","], id="trajectories-optimizers-empty"),
    pytest.param(["lab", "trajectories", "--scene", "bogus"], id="trajectories-scene-unknown"),
    pytest.param(["lab", "trajectories", "--scene", "zigzag", "--lr", "0.1"], id="trajectories-scene-with-lr"),
    pytest.param(["lab", "trajectories", "--out", ""], id="trajectories-out-empty"),
    pytest.param(["lab", "schedules", "--steps", "0"], id="schedules-steps-0"),
    pytest.param(["lab", "schedules", "--steps", "5"], id="schedules-steps-too-few"),
    pytest.param(["lab", "schedules", "--lr", "0"], id="schedules-lr-0"),
    pytest.param(["lab", "schedules", "--lr", "nan"], id="schedules-lr-nan"),
    pytest.param(["lab", "schedules", "--lr", "inf"], id="schedules-lr-inf"),
    pytest.param(["lab", "schedules", "--schedule", "bogus"], id="schedules-spec-unknown"),
    pytest.param(["lab", "schedules", "--schedule", "cosine", "--schedule", "exp:k=-1"],
                 id="schedules-one-bad-spec"),
    pytest.param(["lab", "init", "--depth", "0"], id="init-depth-0"),
    pytest.param(["lab", "init", "--width", "-1"], id="init-width-negative"),
    pytest.param(["lab", "init", "--batch", "1"], id="init-batch-1"),
    pytest.param(["lab", "init", "--batch", "nan"], id="init-batch-nan"),
    pytest.param(["lab", "init", "--width", "1000000000"], id="init-width-huge"),
    pytest.param(["lab", "bogus"], id="lab-topic-unknown"),
]

LRFIND = ["lr-find", *FAST]
NEW_COMMANDS = [  # the commands and flags of issues 13-16
    pytest.param([*TRAIN, "--convention", "bogus"], id="train-convention-unknown"),
    pytest.param([*TRAIN, "--optimizer", "lbfgs", "--convention", "keras"], id="train-convention-for-lbfgs"),
    pytest.param([*TRAIN, "--nproc", "0"], id="train-nproc-0"),
    pytest.param([*TRAIN, "--nproc", "-2"], id="train-nproc-negative"),
    pytest.param([*TRAIN, "--sharpness-every", "-1"], id="train-sharpness-every-negative"),
    pytest.param([*TRAIN, "--sharpness-every", "nan"], id="train-sharpness-every-nan"),
    pytest.param([*COMPARE, "--budget", "0"], id="compare-budget-0"),
    pytest.param([*COMPARE, "--seeds", "-1"], id="compare-seeds-negative"),
    pytest.param([*COMPARE, "--target", "1.5"], id="compare-target-above-1"),
    pytest.param([*COMPARE, "--target", "nan"], id="compare-target-nan"),
    pytest.param([*COMPARE, "--model", "{tmp}/missing.py:build"], id="compare-model-file-missing"),
    pytest.param([*COMPARE, "--data", "spiral,bogus"], id="compare-data-one-unknown"),
    pytest.param([*SEARCH, "--workers", "0"], id="search-workers-0"),
    pytest.param([*SEARCH, "--heartbeat", "0"], id="search-heartbeat-0"),
    pytest.param([*LRFIND, "--lr-min", "0"], id="lr-find-lr-min-0"),
    pytest.param([*LRFIND, "--lr-min", "1", "--lr-max", "0.1"], id="lr-find-range-reversed"),
    pytest.param([*LRFIND, "--steps", "0"], id="lr-find-steps-0"),
    pytest.param([*LRFIND, "--optimizer", "bogus"], id="lr-find-optimizer-unknown"),
    pytest.param(["lab", "sharpness", "--lrs", "0.1,-1"], id="lab-sharpness-negative-lr"),
    pytest.param(["lab", "sharpness", "--steps", "0"], id="lab-sharpness-steps-0"),
    pytest.param(["lab", "landscape", "--run", "{tmp}/missing_run"], id="lab-landscape-missing-run"),
    pytest.param(["lab", "landscape", "--run", "{tmp}/empty_run"], id="lab-landscape-empty-run"),
    pytest.param(["lab", "landscape", "--run", "{tmp}/empty_run", "--grid", "1"], id="lab-landscape-grid-1"),
    pytest.param(["lab", "explore", "--steps", "0"], id="lab-explore-steps-0"),
    pytest.param(["lab", "explore", "--optimizers", "bogus"], id="lab-explore-optimizer-unknown"),
]

CASES = [*NUMERIC, *TRAIN_CASES, *COMPARE_CASES, *SEARCH_CASES, *ENSEMBLE_CASES, *GRADCHECK_CASES, *LAB_CASES,
         *NEW_COMMANDS]


def _argv(case: list[str], tmp_path, out) -> list[str]:
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{out}", str(out)) for a in case]
    if "--out" not in argv and argv[0] != "gradcheck":
        argv += ["--out", str(out)]
    return argv


def test_there_are_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES)
def test_hostile_command_line(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `--out ''` must not touch the checkout
    (tmp_path / "empty_run").mkdir()
    out = tmp_path / "out"
    argv = _argv(case, tmp_path, out)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.endswith("\n"), err
    assert not out.exists(), f"{argv} left {sorted(p.name for p in out.iterdir())}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_run"]
