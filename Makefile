# Two entry points (see README): `make serve` runs the server, `make test` runs every check.
# Both bootstrap .venv from pyproject.toml on first use, so a fresh clone needs only Python 3.10+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# torch goes first and pinned: that CPU build installs from local disk, while the `caption`
# extra's plain torch range would otherwise pull a CUDA build of several GB.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,models,ray,upload]'
	touch $(STAMP)

.PHONY: install serve test lint format
install: $(STAMP)

serve: $(STAMP)
	$(BIN)/datasety server

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
