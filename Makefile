# The two commands of the README: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench chaos serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/auction demo

serve: $(STAMP)
	$(BIN)/auction serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m loadtest

# A timed sale of 200 lots at 300 bids/s through two gateways while a gateway, the worker, Redis and PostgreSQL
# are killed 24 times; then every check (loadtest/chaos_checks.py). Results in loadtest/results/chaos.json.
chaos: $(STAMP)
	$(BIN)/python -m loadtest.chaos --lots 200 --buyers 40 --rate 300 --kills 24 --duration 90 --seed 7

clean:
	rm -rf $(VENV) .state build *.egg-info
