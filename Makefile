# The two commands of the README: `make demo` and `make test`. Both install everything they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint typecheck pytest readme-test clean mlflow-server mlflow-server-stop

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 'setuptools>=77' wheel
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'   # pip's own progress: the first install takes minutes
	touch $(STAMP)

demo: install
	$(BIN)/salesplan demo --out demo_out

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# whole modules per worker (a module's expensive fixture is built once), in tests/conftest.py's longest-first
# order: --no-loadscope-reorder, or xdist re-sorts the modules by how many tests they hold. Bytecode is cached
# even where the environment turns it off: the suite starts dozens of Python processes (CLI, servers, kernels)
# that would each compile the package again (about 20 s of CPU in all)
pytest: install
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=15

test: lint typecheck pytest

# Every command of the README's tested block ('<!-- readme-test -->'), as written, from this folder against the
# demo's workspace (made first if missing). Minutes, so not part of the pytest suite; .ci/run runs it after test.
readme-test: install
	test -f demo_out/salesplan.env && test -f salesplan.env || $(BIN)/salesplan demo --out demo_out
	$(BIN)/python scripts/readme_test.py

# A shared tracking server: PostgreSQL backend store + served artifacts, on 127.0.0.1:5055.
# Point clients at it with: export MLFLOW_TRACKING_URI=$$(scripts/mlflow_server.sh url)
mlflow-server: install
	bash scripts/mlflow_server.sh start

mlflow-server-stop:
	bash scripts/mlflow_server.sh stop

clean:
	rm -rf $(VENV) demo_out salesplan.env mlruns mlruns.db mlartifacts .pytest_cache .mypy_cache .ruff_cache
