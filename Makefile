# The two commands of the README: `make demo` (a real small search) and `make test` (the whole suite).
VENV ?= .venv
export RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_MODE ?= disabled

.PHONY: install demo test lint bench

install:
	@bash scripts/bootstrap.sh

demo: install
	$(VENV)/bin/nas demo

test: install
	@bash scripts/ensure-chromium.sh
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/mypy nas_service workers api

bench: install
	$(VENV)/bin/python -m benchmarks
