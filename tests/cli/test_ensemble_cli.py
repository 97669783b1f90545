"""`descent ensemble`: checkpoints rebuilt with the lead's data/models, probability averaging checked against
NumPy, and the one-line errors for bad run folders."""

import argparse

import pytest
import torch

from descent.cli import ensemble as ensemble_cli
from descent.errors import DescentError


def _parse(argv):
    parser = argparse.ArgumentParser()
    ensemble_cli.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(DescentError, match=r"no checkpoint in '.*run1': '.*checkpoint.pt' does not exist"):
        ensemble_cli.load_checkpoint(tmp_path / "run1")


def test_corrupt_checkpoint(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a torch file")
    with pytest.raises(DescentError, match=r"cannot read checkpoint '.*checkpoint.pt': "):
        ensemble_cli.load_checkpoint(tmp_path)


class _Pickled:
    pass


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"model": {}, "config": _Pickled()}, tmp_path / "checkpoint.pt")
    with pytest.raises(DescentError, match=r"cannot read checkpoint .*(weights_only|Unsupported global)"):
        ensemble_cli.load_checkpoint(tmp_path)


@pytest.mark.parametrize("content", [[1, 2], {"model": {}}, {"config": {}}])
def test_not_a_descent_checkpoint(tmp_path, content):
    torch.save(content, tmp_path / "checkpoint.pt")
    with pytest.raises(DescentError, match=r"is not a descent checkpoint \(expected a dict with 'model' and"):
        ensemble_cli.load_checkpoint(tmp_path)


def test_bad_device(tmp_path):
    with pytest.raises(DescentError, match="unknown device 'gpu0'"):
        ensemble_cli.ensemble_metrics([str(tmp_path)], device="gpu0")


def test_needs_out_and_a_run_dir():
    with pytest.raises(SystemExit):
        _parse(["ensemble", "run1"])
    with pytest.raises(SystemExit):
        _parse(["ensemble", "--out", "x"])
