# Two entry points, each setting up .venv on first use:
#   make train   - install digitnet (its runtime needs only) and train the book's network
#                  (ARGS="..." passes options to `digitnet train`)
#   make test    - add the test extras and run the test suite (PYTEST_ARGS="..." passes options to pytest)
#   make bench   - digitnet against PyTorch, side by side (ARGS="..." passes options to bench/bench.py)
#   make dist    - build the wheel and the sdist into dist/
#   make lint    - ruff (style) and import-linter (the layering contract in pyproject.toml)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: train test bench venv dist lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each stamp remembers one install; editing pyproject.toml redoes it.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.installed-lint: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	touch $@

venv: $(VENV)/.installed

train: venv
	$(BIN)/digitnet train $(ARGS)

# One BLAS thread: the tests multiply many small matrices, where a second thread only adds overhead.
test: $(VENV)/.installed-test
	OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python bench/bench.py $(ARGS)

# Style (ruff, configured in pyproject.toml) and layering (import-linter's contracts, also there).
lint: $(VENV)/.installed-lint
	$(BIN)/ruff check digitnet tests scripts bench
	$(BIN)/lint-imports

dist: venv
	$(BIN)/python -c "import build" 2>/dev/null || $(BIN)/python -m pip install --quiet build
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
