# The two commands of the README: `make example` and `make test`.
# Each sets up what it needs (idempotently) in .venv and, for tests, the
# Debian packages the browser and database tests use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: example test lint docs system-deps bench clean

$(STAMP): setup.py pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ rm -rf $(VENV) && sh scripts/system-deps.sh python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,docs,dev]'
	touch $(STAMP)

example: $(STAMP)
	WECHAT_WEB_SANDBOX=1 $(BIN)/flask --app example run --debug $(FLASK_RUN_ARGS)

system-deps:
	sh scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check flask_wechat_web tests example benchmarks
	$(BIN)/ruff format --check flask_wechat_web tests example benchmarks
	$(BIN)/mypy --strict flask_wechat_web

docs: $(STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

test: system-deps $(STAMP) lint docs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.login $(BENCH_ARGS)

clean:
	rm -rf $(VENV) docs/_build test-artifacts
