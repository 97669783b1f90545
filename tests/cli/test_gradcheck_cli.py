"""`descent gradcheck`: the table, the exit status, the target registry and a bad target name."""

import argparse

import pytest
import torch

from descent.cli import gradcheck as cmd
from descent.errors import DescentError
from descent.gradcheck import ParamReport, check


def run(argv, capsys):
    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers())
    args = parser.parse_args(["gradcheck", *argv])
    status = args.func(args)
    return status, capsys.readouterr().out


def test_losses_are_good_and_the_table_lists_every_target(capsys):
    status, out = run([], capsys)
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert status == 0
    assert "good" in lines["svm"] and "good" in lines["softmax"]
    assert all(t.name in lines for t in cmd.TARGETS)
    assert "wrong" not in out.replace("< wrong", "")


def test_only_selects_targets(capsys):
    status, out = run(["--only", "svm"], capsys)
    assert status == 0 and "svm" in out and "softmax" not in out


def test_unknown_target_is_a_one_line_error():
    with pytest.raises(DescentError, match="unknown gradcheck target hinge; choose from svm, softmax"):
        cmd.select("svm,hinge")


class _WrongBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return (x**2).sum()

    @staticmethod
    def backward(ctx, g):
        return torch.ones(3, dtype=torch.float64) * g  # d(x^2)/dx is 2x, not 1


def test_a_wrong_gradient_in_the_registry_fails_the_command(capsys, monkeypatch):
    x = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    broken = cmd.Target("broken", "a deliberately wrong backward",
                        lambda seed: [ParamReport("x", (3,), check(_WrongBackward.apply, x))])
    monkeypatch.setattr(cmd, "TARGETS", (*cmd.TARGETS[:1], broken))
    status, out = run([], capsys)
    assert status == 1
    assert "broken" in out and "wrong gradients: broken/x" in out


def test_missing_modules_are_skipped_not_failed(capsys, monkeypatch):
    def missing(seed):
        return cmd._module("descent.not_a_module_yet")

    monkeypatch.setattr(cmd, "TARGETS", (cmd.Target("later", "lands later", missing),))
    status, out = run([], capsys)
    assert status == 0 and "skipped" in out


def test_through_the_descent_command(capsys):
    try:
        from descent.cli import main

        main(["--version"])
    except SystemExit:
        pass
    except ModuleNotFoundError as e:  # other sub-commands not merged into this branch yet
        pytest.skip(f"descent.cli.main is not complete here: {e}")
    capsys.readouterr()
    assert main(["gradcheck", "--only", "nope"]) == 2
    assert "descent gradcheck: error: unknown gradcheck target nope" in capsys.readouterr().err
    assert main(["gradcheck", "--only", "svm,softmax"]) == 0
