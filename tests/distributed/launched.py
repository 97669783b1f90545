"""Helpers of the multi-process tests: real processes of ``python -m descent``, a free loopback port, the pid
of a rank (found through /proc), and a timeout on every wait so that a broken collective fails the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

PROCESS_TIMEOUT = 120  # seconds: any launched job that takes longer fails its test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descent(*argv: object, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m descent ARGV`` in a new process, its output captured."""
    return subprocess.Popen([sys.executable, "-m", "descent", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def finish(proc: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the job did not end within {timeout} s (a hung collective?): {err[-2000:]}")
    return proc.returncode, out, err


def wait_for(condition: Callable[[], object], timeout: float = PROCESS_TIMEOUT, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def rank_pid(rank: int, marker: str) -> int | None:
    """The pid of the launched rank ``rank`` whose command line holds ``marker`` (its --out folder)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and b"TORCHELASTIC_RUN_ID" in b" ".join(env) \
                and marker.encode() in cmdline:
            return int(proc.name)
    return None
