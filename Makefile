# The two commands a new user needs (README): `make demo` and `make test`. Both run the setup first.
# `make check` is the quick loop after every change: lint, types and the pure unit tests (under a minute).
.PHONY: setup demo test check lint docs stop clean
VENV ?= .venv
BIN := $(VENV)/bin
# `make test` runs the suite in this many pytest-xdist workers (two: the machine has 2 cores); 0 runs it in one process
TEST_WORKERS ?= 2

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup lint docs
	$(BIN)/pitstop jars --s3   # the object-store test needs the S3A jars (cached after the first run)
	$(BIN)/pitstop plan --check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=30

# needs only the virtualenv: the full setup runs when it is missing, not on every check
check: | $(BIN)/pitstop
	$(BIN)/ruff check src tests feature_defs benchmarks jobs dags plugins
	$(BIN)/mypy
	$(BIN)/python -m pytest tests/unit -m pure -q -p no:hypothesispytest   # no pure test uses hypothesis

$(BIN)/pitstop:
	@bash scripts/setup.sh

lint:
	$(BIN)/ruff check src tests feature_defs benchmarks jobs dags plugins
	$(BIN)/mypy

# The docs site (mkdocs.yml, docs/): --strict fails on any broken link, anchor or missing page; no network needed.
docs:
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

stop:
	@$(BIN)/pitstop engine stop
	@$(BIN)/python -m pitstop.stores.local_redis stop

clean: stop
	rm -rf data/delta .pitstop
