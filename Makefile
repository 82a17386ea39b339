# One command surface for people, CI and the README.
#   make run    set up .venv, load the demo contracts into SQLite, serve on http://127.0.0.1:8080/fhir
#               (development mode: authentication off, said loudly at start)
#   make test   set up .venv and run the whole test suite (SQLite and PostgreSQL)
#   make install  set up .venv with exactly what requirements/dev.lock pins (hashes checked)
#   make lock   re-resolve requirements/runtime.lock and requirements/dev.lock from pyproject.toml
#               (needs uv: pip install uv); after any dependency change in pyproject.toml
#   make lock-check  the locks name every dependency of pyproject.toml, pinned and hashed
#   make lint   ruff and mypy
#   make fuzz   the fuzz tests (tests/fuzz) with FUZZ_EXAMPLES examples per operation (CI runs fewer)
#   make bench  the benchmarks, in production mode: tokens from the bench's own issuer, the access
#               policy and the access log (BENCH_ARGS="--mode production,development" adds
#               development mode beside it; see docs/benchmarks.md)
#   make bench-report  the follow-up report over 100,000 contracts and 200,000 responses, SQLite
#               and PostgreSQL (BENCH_ARGS="--contracts 20000" for a quicker run)
#   make bench-feed  the change feed read by one client while writers run, SQLite and PostgreSQL
#               (BENCH_ARGS="--mode development --profile"; see docs/benchmarks.md)
#   make bench-notify  notification latency from commit to delivery with the in-process worker,
#               SQLite and PostgreSQL (BENCH_ARGS="--mode development"; see docs/benchmarks.md)
#   make bench-load  peak memory of `fhirbridge load` on a generated 200 MB NDJSON file
#               (BENCH_ARGS="--megabytes 1000" or "--format bundle"; see docs/benchmarks.md)
#   make profiles           rebuild profiles/ from the FSH sources (node and npm needed)
#   make validate-profiles  check profiles/ and the demo data with Medplum's validator (node, npm)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
UV     ?= uv
LOCK_OPTIONS := --universal --python-version 3.11 --generate-hashes \
                --custom-compile-command "make lock" --quiet
HOST   ?= 127.0.0.1
PORT   ?= 8080
FUZZ_EXAMPLES ?= 200

.PHONY: install run serve demo test fuzz lint format check lock lock-check bench bench-report bench-feed bench-notify bench-load profiles validate-profiles clean

# Exactly the locked versions (no resolver, every file's hash checked), then fhirbridge itself.
$(STAMP): pyproject.toml requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "fhirbridge needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/fhirbridge demo
	FHIRBRIDGE_AUTH=off $(BIN)/fhirbridge serve --host $(HOST) --port $(PORT)

serve: $(STAMP)
	$(BIN)/fhirbridge serve --host $(HOST) --port $(PORT)

demo: $(STAMP)
	$(BIN)/fhirbridge demo

test: $(STAMP)
	$(BIN)/pytest

fuzz: $(STAMP)
	FHIRBRIDGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts alembic
	$(BIN)/ruff format --check src tests bench scripts alembic
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts alembic
	$(BIN)/ruff check --fix src tests bench scripts alembic

check: lint test

lock:
	$(UV) pip compile pyproject.toml $(LOCK_OPTIONS) -o requirements/runtime.lock
	$(UV) pip compile pyproject.toml $(LOCK_OPTIONS) --extra dev -o requirements/dev.lock

lock-check: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_lock.py

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-report: $(STAMP)
	$(BIN)/python -m bench.report_run $(BENCH_ARGS)

bench-feed: $(STAMP)
	$(BIN)/python -m bench.feed $(BENCH_ARGS)

bench-notify: $(STAMP)
	$(BIN)/python -m bench.notify $(BENCH_ARGS)

bench-load: $(STAMP)
	$(BIN)/python -m bench.load_memory $(BENCH_ARGS)

profiles: $(STAMP)
	$(BIN)/python scripts/build_profiles.py

validate-profiles: $(STAMP)
	$(BIN)/python scripts/independent_validation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
