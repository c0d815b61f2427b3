# ProbablyFresh: a fresh clone needs only Python 3.11+ for `make run`, `make dev` and `make test-fast`;
# `make test` also starts real Kafka and FerretDB (Java 17 + Maven, Go) and uses kcat (installed here).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(CURDIR)/.probablyfresh
# This Makefile's folder, for the scripts `make up` and `make secrets` run from wherever make runs.
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
export DAGSTER_HOME ?= $(STATE)/dagster_home
# .env (see .env.example) is not read here: make would rewrite values holding `$` or `#`. `make run`
# and `make generate` load it in Python, `make dev` through Dagster, `make up` through compose.

.PHONY: run load check purge-pii dev lint test test-fast test-prerequisites test-servers generate benchmark benchmark-ui clean up down secrets lock

# `umask 077`: what Dagster writes in DAGSTER_HOME (run history, event and compute logs) is
# owner-only, like the local state; `exec` leaves no shell between make and the process.
run: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## generate, materialize everything, run the checks
	umask 077 && exec $(BIN)/python -m probablyfresh_dagster.run

load: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## load what is in data/ now (files of any program), generating nothing; the same summary
	@umask 077 && exec $(BIN)/python -m probablyfresh_dagster.run --load

check: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## run every check on what the assets hold now, materializing nothing
	umask 077 && exec $(BIN)/python -m probablyfresh_dagster.run --checks

purge-pii: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## remove clear-text phones and emails from the topics and RAW (ENTITY=customers; default all)
	umask 077 && exec $(BIN)/python -m probablyfresh_dagster.run --purge-pii $(ENTITY)

# `dagster dev` under a wrapper that makes Ctrl-C stop every process it started within seconds.
dev: $(VENV)/installed $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on the same local state
	@umask 077 && exec $(BIN)/python -m probablyfresh_dagster.local_runs.dagster_dev -w workspace.yaml

# Ruff and mypy with their configuration in pyproject.toml, from the locked venv; CI (.ci/run) runs it before `make test`.
lint: $(VENV)/installed  ## the quality gate, as CI runs it: layout (ruff format), lint (ruff check), types (mypy)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# One pytest-xdist worker more than there are cores: the tests wait on their servers and child
# processes for about a sixth of the time, which a spare worker fills (on 2 cores, 3 workers took
# 11:18 where 2 took 11:52; idle CPU 6% instead of 16%). Each worker starts its own servers and shares
# one materialized state among its read-only tests; tests marked xdist_group run on one worker.
PYTEST := $(BIN)/pytest -q -n $(shell echo $$(( $$(nproc) + 1 ))) --dist loadgroup

test: test-prerequisites  ## the whole test suite, real servers included (what CI runs)
	$(PYTEST) --durations=15

test-fast: $(VENV)/installed  ## the suite without the tests marked `servers` (no Java, Go or kcat needed)
	$(PYTEST) -m "not servers"

# The venv and each test server side by side: on a fresh machine pip mostly waits for downloads
# while Go compiles FerretDB on both cores. -O keeps each one's output together.
test-prerequisites:
	@$(MAKE) --no-print-directory -j -O $(VENV)/installed test-servers

# What the real-server tests need: kcat and the PostgreSQL server from Debian (CI runs as root), then
# the Kafka jars, the FerretDB binary and Docker Compose's `config` loader (compose-config/), fetched
# and built once into .cache/testservers/ before pytest starts.
TEST_SERVERS := $(addprefix test-server-,kafka ferretdb compose)
test-servers: debian-test-tools $(TEST_SERVERS)
.PHONY: debian-test-tools $(TEST_SERVERS)

debian-test-tools:
	@command -v kcat >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat postgresql; }

$(TEST_SERVERS): test-server-%:
	infra/testservers/install-$*.sh >/dev/null

generate: $(VENV)/installed  ## only the JSON files (pass ARGS="--seed 7 --purchases 5000")
	umask 077 && exec $(BIN)/python -m probablyfresh_dagster.generator $(ARGS)

# Exactly the versions of requirements.lock, hash-checked, as the Docker image installs them; the
# venv is rebuilt from scratch whenever the lock changes, so nothing unlocked lingers in it.
$(VENV)/installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r requirements.lock
	@# Newer pips show setuptools' "Editable installation." InformationOnly warning despite --quiet.
	PYTHONWARNINGS="ignore:Editable installation." $(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Re-resolve requirements.lock from pyproject.toml (every extra, for Python 3.11 on any platform)
# with uv, kept in its own venv under .cache/ so it is not part of the locked set.
UV_VERSION := 0.13.9
lock:  ## refresh requirements.lock to the newest versions pyproject.toml allows (then: make test)
	.cache/uv/bin/uv --version 2>/dev/null | grep -qF "uv $(UV_VERSION) " || { $(PYTHON) -m venv .cache/uv && .cache/uv/bin/pip install --quiet uv==$(UV_VERSION); }
	.cache/uv/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
		--generate-hashes --upgrade --quiet -o requirements.lock

$(DAGSTER_HOME)/dagster.yaml: infra/dagster/local.yaml
	@umask 077 && mkdir -p $(DAGSTER_HOME) && cp $< $@

# The landing zone is the user's: only the files the generator wrote (and nobody changed since) go,
# with the platform's folders, `_rejected` and the folders left empty.
clean:  ## forget the local state and the generator's files (not the venv, not the user's own files)
	if [ -x $(BIN)/python ] && [ -d data ]; then $(BIN)/python -m probablyfresh_dagster.generator --remove; fi
	rm -rf $(STATE) data/_rejected
	rmdir data 2>/dev/null || true

benchmark: $(VENV)/installed  ## per stage seconds, records/s, peak memory, against the floor (ARGS="10000 100000 --kafka")
	$(BIN)/python infra/benchmark/stages.py $(ARGS)

benchmark-ui: $(VENV)/installed  ## the UI's "Materialize all" against `make run`, same data (ARGS="--purchases 20000")
	$(BIN)/python infra/benchmark/materialize_all.py $(ARGS)

# infra/stack/env_check.py refuses empty, short or placeholder passwords and a bad FERNET_KEY, one
# line each, before compose starts anything; the compose `env-check` service checks them again as
# compose resolved them, and every other service waits for it.
up:  ## the docker-compose stack on the docker profile (needs .env: `make secrets`, then review it)
	@test -f .env || { echo "No .env: run \`make secrets\` (writes .env from .env.example with strong secrets)" >&2; exit 1; }
	@$(PYTHON) $(HERE)infra/stack/env_check.py .env
	docker compose --env-file .env up -d --build --wait

secrets:  ## write strong random passwords and a FERNET_KEY into .env (created from .env.example), keep good ones
	@umask 077 && $(PYTHON) $(HERE)infra/stack/env_check.py --fill .env

down:  ## stop the stack (volumes kept; `docker compose down -v` forgets the data too)
	docker compose --env-file .env down
