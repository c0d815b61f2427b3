# ProbablyFresh: a fresh clone needs only Python 3.11+ for `make run`, `make dev` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/.probablyfresh
export DAGSTER_HOME ?= $(STATE)/dagster_home
# Settings from .env (see .env.example), when there is one.
-include .env
export

.PHONY: run dev test generate benchmark clean

run: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## generate, materialize everything, run the checks
	$(BIN)/python -m probablyfresh_dagster.run

dev: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on the same local state
	$(BIN)/dagster dev -w workspace.yaml

test: $(VENV)/installed  ## the whole test suite
	$(BIN)/pytest -q

generate: $(VENV)/installed  ## only the JSON files (pass ARGS="--seed 7 --purchases 5000")
	$(BIN)/python -m probablyfresh_dagster.generator $(ARGS)

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: infra/dagster/local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

clean:  ## forget the local state and the generated files (not the venv)
	rm -rf $(STATE) data

benchmark: $(VENV)/installed  ## seconds, rows/s and peak memory per stage (pass ARGS="10000 100000")
	$(BIN)/python -m probablyfresh_dagster.benchmark $(ARGS)
