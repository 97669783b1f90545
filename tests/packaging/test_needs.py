"""The CLI's table of what each command needs (descent/cli/_needs.py) against the parser and pyproject.toml."""

from __future__ import annotations

import argparse
from pathlib import Path

import tomllib

from descent.cli import _needs, build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """Every runnable command of the parser: ``train``, ``lab trajectories``..."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                inner = _commands(sub, f"{prefix}{name} ")
                out += inner or [f"{prefix}{name}"]
    return out


def test_every_command_declares_what_it_needs():
    commands = _commands(build_parser())
    assert "train" in commands and "lab schedules" in commands
    assert sorted(set(commands) - set(_needs.NEEDS)) == []
    assert sorted(set(_needs.NEEDS) - set(commands)) == []


def test_each_package_comes_from_the_extra_named_for_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, (distribution, extra) in _needs.PACKAGES.items():
        assert any(r.startswith(distribution) for r in extras[extra]), (module, extra)
    assert extras["lab"] == [f"descent[{','.join(_needs.LAB)}]"]


def test_needs_follow_the_flags():
    parse = build_parser().parse_args
    assert _needs.NEEDS["train"](parse(["train", "--out", "x", "--data", "spiral"])) == {"matplotlib"}
    assert _needs.NEEDS["train"](parse(["train", "--out", "x"])) == {"matplotlib", "mnist1d"}
    cifar = parse(["train", "--out", "x", "--data", "cifar10", "--augment", "flip", "--tensorboard"])
    assert _needs.NEEDS["train"](cifar) == {"matplotlib", "kornia", "tensorboard"}
    assert "optuna" in _needs.NEEDS["search"](parse(["search", "--out", "x", "--trials", "2", "--data", "spiral"]))
    assert _needs.install_line({"matplotlib", "tensorboard"}) == "pip install 'descent[lab,tensorboard]'"
