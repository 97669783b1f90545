"""descent installed as users install it: the sdist and wheel built by ``python -m build``, the wheel installed
into a fresh virtual environment (no access to the development environment's packages), first alone (the
core: torch and numpy), then with the ``lab`` extra.

Core: the optimizers import and step as their torch.optim twins; ``descent --version`` agrees with the
installed metadata; a command whose extra is missing stops at once, exit 2, one line naming the command, the
missing packages and the pip line, no output folder. Lab: ``descent train`` trains one epoch and writes every
output. The venv gets the torch this suite runs on (``torch==<version>``: on this kind of machine the CPU
wheel pip finds in PIP_FIND_LINKS), then the wheel; about two minutes in all on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile
from pathlib import Path

import pytest
import torch

import descent

ROOT = Path(__file__).resolve().parents[2]
TORCH_PIN = f"torch=={torch.__version__.split('+')[0]}"
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "__pycache__", "*.pyc", "*.egg-info",
                                    ".pytest_cache", ".ruff_cache", "_build", ".whl", ".gl")
OPTIONAL = ("matplotlib", "mnist1d", "sklearn", "optuna", "kornia", "tqdm", "tensorboard")
OUTPUTS = ("metrics.json", "history.csv", "losses.csv", "curves.png", "report.html", "checkpoint.pt")

pytestmark = pytest.mark.slow

# run inside the fresh venv: every optimizer of the registry steps; those with a torch.optim twin equal it
CORE_SCRIPT = r"""
import importlib.metadata, importlib.util, json, sys
import torch
import descent
from descent.optim import OPTIMIZERS

worst, stepped = 0.0, []
for name, entry in OPTIMIZERS.items():
    torch.manual_seed(0)
    start = torch.randn(5, 3, dtype=torch.float64)
    ours = start.clone().requires_grad_()
    opt = entry.factory([ours], lr=entry.lr, **entry.defaults)
    twin = start.clone().requires_grad_()
    ref = entry.torch_twin([twin], lr=entry.lr, **entry.defaults) if entry.torch_twin else None
    for _ in range(5):
        for w, o in ((ours, opt), (twin, ref)):
            if o is None:
                continue
            def closure(w=w, o=o):
                o.zero_grad()
                loss = (w ** 4).sum() + (w ** 2).sum()
                loss.backward()
                return loss
            o.step(closure) if entry.closure else (closure(), o.step())
    if ref is not None:
        worst = max(worst, ((ours - twin).abs().max() / twin.abs().max()).item())
    stepped.append(name if not torch.equal(ours, start) else name + " (did not move)")
print(json.dumps({"file": descent.__file__, "version": descent.__version__,
                  "metadata_version": importlib.metadata.version("descent"),
                  "absent": [m for m in OPTIONAL_MODULES if importlib.util.find_spec(m) is None],
                  "stepped": stepped, "worst_relative_difference": worst}))
""".replace("OPTIONAL_MODULES", repr(OPTIONAL))


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, built by ``python -m build`` from a copy of the source tree (so no build
    folder or egg-info lands in the working tree); the wheel is built from the sdist, as build does."""
    top = tmp_path_factory.mktemp("build")
    shutil.copytree(ROOT, top / "src", ignore=NOT_SOURCE)
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(top / "dist"), str(top / "src")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = (top / "dist").glob("descent-*.tar.gz")
    (wheel,) = (top / "dist").glob("descent-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_wheel_holds_the_package_only(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    info = f"descent-{descent.__version__}.dist-info/"
    assert all(n.startswith(("descent/", info)) for n in names), [n for n in names if not n.startswith("descent")]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so")) or "/tests/" in n]
    assert {"descent/optim/_fused_cpu.cpp", "descent/cli/__init__.py", f"{info}licenses/LICENSE"} <= set(names)
    assert "descent = descent.cli:main" in entry_points
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert sorted(r.split()[1].split(">")[0] for r in requires if "extra ==" not in r) == ["numpy", "torch"]
    assert f"Version: {descent.__version__}" in metadata and "Provides-Extra: lab" in metadata


def test_sdist_holds_what_a_packager_needs(dists):
    with tarfile.open(dists["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "pyproject.toml", "Makefile", "tests/conftest.py",
            "tests/packaging/test_wheel.py", "docs/conf.py", "docs/index.md", "src/descent/__init__.py",
            "src/descent/optim/_fused_cpu.cpp"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".so")) or n.startswith(
        (".venv", "runs/", "docs/api/", "docs/_build/"))]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{root / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["DESCENT_CACHE"] = str(root / "cache")  # a new user's machine: MNIST-1D not generated yet
    return env


def _run(root: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=root, env=_env(root), capture_output=True, text=True, timeout=timeout)


def _fails_fast(root: Path, argv: list[str], command: str, packages: list[str], line: str) -> None:
    """``descent ARGV`` exits 2 at once with one line naming ``command``, ``packages`` and the pip ``line``;
    the epochs asked for would take minutes, so returning within seconds means nothing was trained."""
    out = root / f"out-{len(list(root.iterdir()))}"
    t0 = time.perf_counter()
    done = _run(root, "descent", *argv, "--out", str(out))
    seconds = time.perf_counter() - t0
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"descent {command}: error: needs "), done.stderr
    for package in packages:
        assert package in done.stderr
    assert done.stderr.rstrip().endswith(line) and not done.stdout
    assert not out.exists() and seconds < 30, seconds


def test_wheel_installs_as_users_do(dists, tmp_path):
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    python = str(tmp_path / "venv" / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]

    # 1. the core, as `pip install descent` gives it
    done = _run(tmp_path, *pip, TORCH_PIN, str(dists["wheel"]), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    done = _run(tmp_path, python, "-c", CORE_SCRIPT)
    assert done.returncode == 0, done.stderr[-3000:]
    core = json.loads(done.stdout.strip().splitlines()[-1])
    assert core["file"].startswith(str(tmp_path / "venv")), core["file"]  # the installed copy, not the tree
    assert core["version"] == core["metadata_version"] == descent.__version__
    assert sorted(core["absent"]) == sorted(OPTIONAL)  # torch and numpy only
    assert not [s for s in core["stepped"] if "did not move" in s] and len(core["stepped"]) >= 10
    assert core["worst_relative_difference"] <= 1e-12
    version = _run(tmp_path, "descent", "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"descent {descent.__version__}"
    lab = "pip install 'descent[lab]'"
    _fails_fast(tmp_path, ["train", "--data", "spiral", "--epochs", "100000"], "train", ["matplotlib"], lab)
    _fails_fast(tmp_path, ["train", "--epochs", "100000"], "train", ["matplotlib", "mnist1d"], lab)
    _fails_fast(tmp_path, ["train", "--data", "spiral", "--tensorboard"], "train", ["tensorboard"],
                "pip install 'descent[lab,tensorboard]'")
    _fails_fast(tmp_path, ["search", "--data", "digits", "--trials", "1000"], "search",
                ["matplotlib", "scikit-learn", "optuna"], lab)
    _fails_fast(tmp_path, ["lab", "schedules"], "lab schedules", ["matplotlib"], lab)

    # 2. the lab extra: the command works, one epoch writes every output
    done = _run(tmp_path, *pip, f"{dists['wheel']}[lab]", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "run"
    done = _run(tmp_path, "descent", "train", "--epochs", "1", "--out", str(run), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in OUTPUTS:
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
