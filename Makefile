# Two entry points, each setting up .venv on first use:
#   make train   - install digitnet and train the book's network (ARGS="..." passes options to `digitnet train`)
#   make test    - install digitnet with its test extras and run the test suite
#   make bench   - digitnet against PyTorch, side by side (ARGS="..." passes options to bench/bench.py)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: train test bench venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

train: venv
	$(BIN)/digitnet train $(ARGS)

# One BLAS thread: the tests multiply many small matrices, where a second thread only adds overhead.
test: venv
	OPENBLAS_NUM_THREADS=$${OPENBLAS_NUM_THREADS:-1} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python bench/bench.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
