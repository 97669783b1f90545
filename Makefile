# The two commands of the README: `make demo` and `make test`. Everything they need is installed from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# A CPU build of torch lies on this kind of machine's disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0

.PHONY: install demo test lint bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_PIN)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/descent compare --data mnist1d --out runs/demo --seeds 3 --epochs 4

test: install
	bash scripts/ensure-browser.sh
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m pytest -n 2 -q tests

lint: install
	$(BIN)/ruff check src tests benchmarks examples

# the API reference and guides as HTML (docs/_build/html/index.html); strict: a broken reference or a public
# name without a docstring fails the build (tests/packaging/test_docs.py runs the same build in `make test`)
docs: install
	$(BIN)/python -m sphinx -E -W --keep-going -n -q -b html docs docs/_build/html

bench: install
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build dist *.egg-info src/*.egg-info docs/_build docs/api
