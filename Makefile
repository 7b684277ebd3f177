# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create their own virtual environment and install the CPU build of
# PyTorch before the project, so pip never pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAGAS_DO_NOT_TRACK := true

.PHONY: demo test install install-test browser lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/supportgraph demo

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# Debian's Chromium for the widget's browser tests (never a downloaded browser); the
# browser tests skip with a reason where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "chromium not installed: browser tests will be skipped"

test: install-test lint browser
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/store_scale.py

clean:
	rm -rf $(VENV) .supportgraph .pytest_cache .mypy_cache .ruff_cache
