# The two commands of the README: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every version installed is pinned here (pip, the build's setuptools, and all the packages with theirs):
# a new release of ruff or mypy can't fail `make test` on an unchanged tree. `make lock` updates it, on purpose.
CONSTRAINTS := constraints.txt

.PHONY: demo test lint typecheck bench chaos serve clean lock

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) --upgrade pip
	$(BIN)/pip install --quiet --constraint $(CONSTRAINTS) --build-constraint $(CONSTRAINTS) -e '.[dev,bench]'
	touch $(STAMP)

# The newest versions pyproject.toml allows, resolved in a scratch environment and written to constraints.txt.
# Then `make test` (which reinstalls, since the file changed) and commit the file if it passes.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip setuptools
	.venv-lock/bin/pip install --quiet -e '.[dev,bench]'
	sed -n '/^#/p' $(CONSTRAINTS) > $(CONSTRAINTS).new
	.venv-lock/bin/pip freeze --all --exclude-editable | grep -v '^wheel==' >> $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)
	rm -rf .venv-lock

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
