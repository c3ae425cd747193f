# Every target builds its own virtual environment first (only Python 3.11+ and make needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit check bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python run.py --demo

lint: $(STAMP)
	$(BIN)/ruff check hotline lineworks_emulator tests bench run.py
	$(BIN)/ruff format --check hotline lineworks_emulator tests bench run.py

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	scripts/ensure-chromium
	scripts/ensure-deploy-tools
	$(BIN)/pytest

test: lint typecheck unit

check: $(STAMP)
	$(BIN)/hotline check

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
