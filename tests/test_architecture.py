"""The shape of the package: imports point one way (counting imports inside functions), files stay small, and
every public optimizer, schedule and entry point carries a docstring example that runs."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import descent

ROOT = Path(descent.__file__).parent
MAX_LINES = 350


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """descent modules that ``name`` imports anywhere in its body (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from pkg import sub` imports the module pkg.sub if there is one
                sub = f"{module}.{alias.name}"
                targets.add(sub if sub in MODULES else module)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_cycles():
    """No module imports itself through others (a package's __init__ re-exporting its modules is no cycle)."""
    cycles = sorted(name for name in GRAPH if name in _reachable(name))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_graph_under_test_is_the_real_one():
    # the walker must see imports inside functions and relative imports, or the test above proves nothing
    assert "descent.train.job" in GRAPH["descent.train.sanity"]
    assert "descent.checks" in GRAPH["descent.models"]
    assert "descent.report" in GRAPH["descent.train.job"] or "descent.report.pages" in GRAPH["descent.train.job"]


@pytest.mark.parametrize("package", ["descent.train", "descent.report", "descent.optim", "descent.schedules"])
def test_lower_floors_do_not_reach_the_lab_or_the_cli(package):
    below = _reachable(package) | {package}
    assert not {m for m in below if m.startswith(("descent.lab", "descent.cli"))}, package


def test_every_source_file_is_small():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"


# ------------------------------------------------------------------------------------ docstring examples

PUBLIC_WITH_EXAMPLES = [
    *(f"descent.optim.{n}" for n in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam",
                                     "AdamW", "LBFGS", "Newton", "build", "get")),
    *(f"descent.schedules.{n}" for n in ("constant", "step_decay", "multistep_decay", "exponential_decay",
                                         "inverse_time_decay", "cosine_decay", "cosine_restarts", "warmup", "join",
                                         "LRSchedule", "parse", "parse_spec")),
    "descent.checks", "descent.config", "descent.train.resolve", "descent.train.lr", "descent.train.plan",
    "descent.train.sanity", "descent.train.run_training",
]


def _object(dotted: str):
    module, _, attr = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(dotted)


@pytest.mark.parametrize("dotted", PUBLIC_WITH_EXAMPLES)
def test_public_api_has_a_docstring_example(dotted):
    assert ">>>" in (_object(dotted).__doc__ or ""), f"{dotted} has no runnable example"


def _all_modules():
    found = pkgutil.walk_packages(descent.__path__, "descent.")
    return sorted(m.name for m in found if m.name != "descent.__main__")  # importing it runs the command


@pytest.mark.parametrize("module", _all_modules())
def test_docstring_examples_run(module):
    mod = importlib.import_module(module)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(mod, module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed (run doctest for details)"
