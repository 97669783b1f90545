"""The fused CPU kernels on a machine that cannot build them: no C++ compiler, or a read-only home.

Each case runs a fresh Python process (the library is built or loaded once per process) with an empty
extensions folder, so nothing built earlier is loaded: Adam on a model big enough for the automatic fused
path must step exactly as ``torch.optim.Adam``, with one RuntimeWarning saying why and no error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, warnings
import torch
from descent.optim import Adam, _base, _fused_cpu

n = _base.FUSED_MIN_NUMEL  # the automatic path asks for the C++ kernel at this size
ours, theirs, forced = (torch.ones(n, requires_grad=True) for _ in range(3))
opts = Adam([ours], lr=1e-3), torch.optim.Adam([theirs], lr=1e-3), Adam([forced], lr=1e-3, fused=True)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for step in range(3):
        for opt, w in zip(opts, (ours, theirs, forced)):
            w.grad = torch.linspace(-1, 1, n) * (step + 1)
            opt.step()
notices = [str(w.message) for w in caught if "fused CPU kernels" in str(w.message)]
# fused=True steps too: torch.compile's code where it still compiles (to rounding), foreach where it cannot
close = torch.allclose(forced, theirs, rtol=1e-6, atol=0)
print(json.dumps({"equal": torch.equal(ours, theirs) and close, "notices": notices,
                  "error": _fused_cpu.LIBRARY.error, "built": _fused_cpu.LIBRARY.functions is not None}))
"""


def _run(env_changes: dict[str, str | None]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CXX", "TORCH_EXTENSIONS_DIR", "XDG_CACHE_HOME")}
    env.update(env_changes)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check_fallback(result: dict, reason: str) -> None:
    assert result["equal"], "the foreach fallback does not step as torch.optim.Adam"
    assert not result["built"] and result["error"]
    assert len(result["notices"]) == 1, result["notices"]
    assert reason in result["notices"][0] and "use foreach" in result["notices"][0]


@pytest.mark.slow
def test_no_compiler_on_path(tmp_path):
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()  # PATH without c++ / g++ (python is started by its absolute path)
    result = _run({"PATH": str(empty_bin), "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")})
    _check_fallback(result, "no C++ compiler")


@pytest.mark.slow
def test_compiler_named_by_cxx_does_not_exist(tmp_path):
    result = _run({"CXX": str(tmp_path / "no-such-c++"), "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext")})
    _check_fallback(result, "no-such-c++")


@pytest.mark.slow
def test_read_only_home(tmp_path):
    """HOME where nothing can be created: a folder without write permission, or, for root (whom mode bits do
    not stop), sysfs, where even root cannot make a folder."""
    if os.geteuid() == 0:
        home = "/sys/fs"
    else:
        home = str(tmp_path / "home")
        os.mkdir(home, 0o555)
    with pytest.raises(PermissionError):
        os.makedirs(os.path.join(home, ".cache", "probe"))
    _check_fallback(_run({"HOME": home}), "PermissionError")
