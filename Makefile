# Two entry points, each setting up .venv on first use:
#   make train   - install digitnet (its runtime needs only) and train the book's network
#                  (ARGS="..." passes options to `digitnet train`)
#   make test    - add the test extras and run the test suite (PYTEST_ARGS="..." passes options to pytest)
#   make bench   - digitnet against PyTorch, side by side (ARGS="..." passes options to bench/bench.py)
#   make dist    - build the wheel and the sdist into dist/
#   make lint    - ruff (style) and import-linter (the layering contract in pyproject.toml)
#   make notebooks - run every notebook top to bottom (DIGITNET_QUICK=1: their quick mode)
#   make docs    - the documentation site, built strictly into site/
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: train test bench venv dist lint notebooks docs clean

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

$(VENV)/.installed-notebooks: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	touch $@

$(VENV)/.installed-docs: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[docs]'
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
	$(BIN)/ruff check digitnet tests scripts bench notebooks
	$(BIN)/lint-imports

# Every notebook (notebooks/*.py, jupytext) converted and run by nbclient in a fresh kernel of this venv;
# a cell that raises fails the target. The executed notebooks land in build/notebooks/, with each one's time
# printed. DIGITNET_QUICK=1 for the quick mode CI runs; DIGITNET_OFFLINE=1 never touches the network.
NOTEBOOK_OUT := build/notebooks
NOTEBOOKS := $(patsubst notebooks/%.py,%,$(wildcard notebooks/*.py))

notebooks: $(VENV)/.installed-notebooks
	OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} $(BIN)/python scripts/run_notebooks.py --out $(NOTEBOOK_OUT)

# A notebook changed since it last ran (or never ran) is run again, in quick mode unless DIGITNET_QUICK
# says otherwise, so that `make docs` alone works on a fresh clone.
$(NOTEBOOK_OUT)/%.ipynb: notebooks/%.py | $(VENV)/.installed-docs
	DIGITNET_QUICK=$${DIGITNET_QUICK:-1} OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} \
		$(BIN)/python scripts/run_notebooks.py --out $(NOTEBOOK_OUT) $*

# The site, with --strict: a broken link or anchor, a page missing from the nav or an API reference that
# does not resolve fails the build. The notebook pages are the executed notebooks, copied into docs/notebooks/.
docs: $(VENV)/.installed-docs $(patsubst %,$(NOTEBOOK_OUT)/%.ipynb,$(NOTEBOOKS))
	rm -rf docs/notebooks && mkdir -p docs/notebooks
	cp $(patsubst %,$(NOTEBOOK_OUT)/%.ipynb,$(NOTEBOOKS)) docs/notebooks/
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

dist: venv
	$(BIN)/python -c "import build" 2>/dev/null || $(BIN)/python -m pip install --quiet build
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache site docs/notebooks .cache
