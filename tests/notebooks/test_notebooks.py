"""The lecture's notebooks (examples/notebooks) run top to bottom in a fresh kernel of this very Python, each
within two minutes, and show their pictures inline; a failing cell fails the test.

The kernel is declared in a temporary folder handed to jupyter_client's KernelSpecManager, so neither the
user's Jupyter configuration nor their kernels are read or touched, and the notebooks run with the
interpreter (and the descent) under test.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
KERNEL = "descent-under-test"
BUDGET_S = 120  # per notebook, on two cores


@pytest.fixture(scope="module")
def kernels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "descent under test", "language": "python",
        # one thread per kernel (the suite runs two at once on two cores); figures inline
        "env": {"OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                "PYTHONPATH": str(ROOT / "src")},
    }))
    return folder


def execute(notebook: nbformat.NotebookNode, kernels: Path, cwd: Path) -> float:
    """Run every cell in order in a fresh kernel; return the seconds it took. Raises CellExecutionError."""
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(notebook, km=manager, kernel_name=KERNEL, timeout=BUDGET_S,
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def test_there_is_a_notebook_per_part_of_the_lecture():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 7 and names == sorted(names), names
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), f"{path.name}: outputs"
        assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
        assert notebook.metadata.kernelspec.name == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kernels, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    seconds = execute(notebook, kernels, tmp_path)
    assert seconds < BUDGET_S, f"{path.name} took {seconds:.0f} s"
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert pictures, f"{path.name} shows no picture"


def test_a_failing_cell_fails_the_run(kernels, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                               nbformat.v4.new_code_cell("raise ValueError('cell two')"),
                                               nbformat.v4.new_code_cell("y = 2")])
    with pytest.raises(CellExecutionError, match="cell two"):
        execute(notebook, kernels, tmp_path)
    assert notebook.cells[2].get("outputs", []) == [] and notebook.cells[2].get("execution_count") is None
