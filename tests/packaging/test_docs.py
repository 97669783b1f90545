"""``make docs``: the HTML site builds strictly, covers every public module, and its strictness bites.

The build is Sphinx's, as the Makefile runs it (``-E -W --keep-going -n``): a warning (a broken reference, a
docstring that is not valid reStructuredText, a public name without a docstring) fails it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRICT = ["-E", "-W", "--keep-going", "-n", "-q", "-b", "html"]

pytestmark = pytest.mark.slow


def _sphinx(source: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sphinx", *STRICT, str(source), str(out)], capture_output=True,
                          text=True, timeout=600)


def _conf():
    spec = importlib.util.spec_from_file_location("descent_docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


def test_the_site_builds_strictly_and_documents_every_public_module(tmp_path):
    done = _sphinx(ROOT / "docs", tmp_path)
    assert done.returncode == 0, done.stderr[-6000:]
    for name in _conf().public_modules():
        assert (tmp_path / "api" / f"{name}.html").is_file(), name
    adam = (tmp_path / "api" / "descent.optim.adam.html").read_text()
    assert 'id="descent.optim.adam.Adam"' in adam and "beta_1" in adam and "&gt;&gt;&gt;" in adam  # math, example
    trainer = (tmp_path / "api" / "descent.train.trainer.html").read_text()
    assert 'id="descent.train.trainer.Trainer"' in trainer
    for guide in ("optim", "schedules", "second_order", "regularization", "babysitting", "lab"):
        assert (tmp_path / f"{guide}.html").is_file(), guide


def test_public_modules_are_found_by_walking_the_package():
    names = _conf().public_modules()
    assert {"descent", "descent.optim.adam", "descent.schedules.functions", "descent.losses",
            "descent.train.trainer"} <= set(names)
    assert not [n for n in names if re.search(r"\._|\.cli\b", n)]


def test_an_undocumented_name_and_a_broken_reference_fail_the_build(tmp_path):
    """A copy of the site's configuration over a module of two defects: the build must name both."""
    source, package = tmp_path / "docs", tmp_path / "pkg"
    source.mkdir()
    package.mkdir()
    (package / "flawed.py").write_text('"""A module; see :func:`nowhere`."""\n\n\ndef bare(x):\n    return x\n')
    (source / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(package)!r})\n"
        f"exec(open({str(ROOT / 'docs' / 'conf.py')!r}).read())\n"
        "API = __import__('pathlib').Path(__file__).parent / 'api'\n"
        "public_modules = lambda: ['flawed']\n")
    (source / "index.rst").write_text("Test\n====\n\n.. automodule:: flawed\n")
    done = _sphinx(source, tmp_path / "html")
    assert done.returncode != 0
    assert "public function flawed.bare has no docstring" in done.stderr
    assert "reference target not found: nowhere" in done.stderr
