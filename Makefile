# Two entry points (see README): `make serve` runs the server, `make test` runs every check.
# Both bootstrap .venv from pyproject.toml on first use, so a fresh clone needs only Python 3.10+.
# `make serve` installs the package alone (what the server and the light commands need);
# `make test` adds the model extras, Ray and the test tools to the same .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
FULL := $(VENV)/.installed-full

$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $(BASE)

# torch goes first and pinned: that CPU build installs from local disk, while the model
# extras' plain torch range would otherwise pull a CUDA build of several GB.
$(FULL): $(BASE)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,models,ray,upload]'
	touch $(FULL)

.PHONY: install serve test lint format
install: $(FULL)

serve: $(BASE)
	$(BIN)/datasety server

lint: $(FULL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

format: $(FULL)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
