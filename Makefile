# intel_assets — every target creates .venv and installs on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TZ := UTC
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test contract ui serve bench parity gate install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing intel_assets and its dependencies into $(VENV) (first run takes ~2 min)"
	@$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@set -o pipefail; $(BIN)/python -m pip install --quiet -e ".[test]" 2>&1 | { grep -v "^WARNING: Location" || true; }
	@$(BIN)/python -m pip check
	@touch $(STAMP)

install: $(STAMP)

## make demo: seed the embedded stores, materialize every asset in one run, publish, summarize
demo: $(STAMP)
	$(BIN)/intel-assets demo

## make test: start what the tests need (PostgreSQL binaries), run pytest
test: $(STAMP)
	@bash scripts/test-services.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make contract: schemathesis fuzzes the live serving API from its OpenAPI document (~1.5 min)
contract: $(STAMP)
	$(BIN)/python -m intel_assets.devtools.contract_check

## make ui: Dagster webserver + daemon (workspace.yaml) and the serving API on 127.0.0.1
ui: $(STAMP)
	$(BIN)/intel-assets ui

serve: $(STAMP)
	$(BIN)/intel-assets serve

## make parity: seed a day of Torghut decisions, replay through Alpaca paper + LEAN, print TCA/drift
parity: $(STAMP)
	$(BIN)/intel-assets parity

## make gate: a LEAN week of decisions through the Torghut guardrail, parity per day, baseline,
## guardrail_daily and the rollout gate; prints the phase reached with its evidence (after make demo)
gate: $(STAMP)
	$(BIN)/intel-assets parity --week

## make bench: benchmark figures (P1 refresh on the embedded default and the PostgreSQL deploy
## config, P2 serving, P4 parity); make bench P5=1 adds P5, end-to-end staleness with a live
## clock (~14 min more); prints, never asserts timings
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(if $(P5),--with-p5)

clean:
	@if test -x $(BIN)/intel-assets; then $(BIN)/intel-assets postgres stop || true; fi
	rm -rf .intel .pytest_cache
