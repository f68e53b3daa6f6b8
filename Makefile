# The two commands a new user needs (README): `make demo` and `make test`. Both run the setup first.
.PHONY: setup demo test lint docs stop clean
VENV ?= .venv
BIN := $(VENV)/bin

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup lint docs
	$(BIN)/pitstop jars --s3   # the object-store test needs the S3A jars (cached after the first run)
	$(BIN)/pitstop plan --check
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check src tests feature_defs benchmarks jobs dags plugins
	$(BIN)/mypy

# The docs site (mkdocs.yml, docs/): --strict fails on any broken link, anchor or missing page; no network needed.
docs:
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

stop:
	@$(BIN)/python -m pitstop.stores.local_redis stop

clean: stop
	rm -rf data/delta .pitstop
