"""Test-wide settings: one torch thread per xdist worker (two workers on two cores; oversubscribed OpenMP
threads make small models tens of times slower), headless matplotlib."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def run_cli(capsys):
    """Run `descent ...` in-process; returns (exit code, stdout, stderr)."""
    from descent.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse exits for usage errors
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
