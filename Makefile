# intel_assets — every target creates .venv and installs on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TZ := UTC
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test contract ui ui-test serve bench parity gate install clean lock image-venv lint

# requirements.lock pins base + every extra (embedded, ui, k8s, test, dev): what make install,
# make test and CI install. requirements-image.lock pins base + k8s: the user-code image's Python
# layer (Dockerfile; make image-venv builds it as a plain venv). Both for CPython 3.11 on Linux
# x86_64, resolved by uv from pyproject.toml; never edited by hand.
LOCK := requirements.lock
IMAGE_LOCK := requirements-image.lock
UV ?= $(shell command -v uv || echo .tmp/uv/bin/uv)
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing intel_assets and its dependencies from $(LOCK) into $(VENV) (first run takes ~2 min)"
	@$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@set -o pipefail; $(BIN)/python -m pip install --quiet -r $(LOCK) 2>&1 | { grep -v "^WARNING: Location" || true; }
	@set -o pipefail; $(BIN)/python -m pip install --quiet --no-deps -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	@$(BIN)/python -m pip check
	@touch $(STAMP)

install: $(STAMP)

## make lock: re-resolve both lock files after editing pyproject.toml's dependencies (pins already
## in a lock file are kept when they still fit; make lock UPGRADE=1 moves everything to the newest).
## The image lock is constrained by the full one: it ships exactly the versions the tests ran on.
lock:
	@test -x "$(UV)" || { echo "uv is not on PATH: installing it into .tmp/uv"; \
	  $(PYTHON) -m venv .tmp/uv && .tmp/uv/bin/python -m pip install --quiet uv; }
	@bash scripts/lock-header.sh "$(LOCK)" "base + every extra (embedded, ui, k8s, test, dev)" \
	  $(UV) pip compile pyproject.toml --all-extras $(LOCK_TARGET) $(if $(UPGRADE),--upgrade) -o $(LOCK)
	@bash scripts/lock-header.sh "$(IMAGE_LOCK)" "base + k8s: the user-code image (Dockerfile)" \
	  $(UV) pip compile pyproject.toml --extra k8s $(LOCK_TARGET) -c $(LOCK) -o $(IMAGE_LOCK)

## make image-venv: the image's Python layer as a plain venv from requirements-image.lock in a
## temp dir (the Dockerfile's builder steps), then the code server and the serving API run from it
## (~45 s with a warm pip cache; CI runs it first)
image-venv:
	@bash scripts/image-venv.sh "$(PYTHON)" "$(IMAGE_LOCK)"

## make lint: ruff with the rule set in pyproject.toml ([tool.ruff]); CI runs it first
lint: $(STAMP)
	$(BIN)/ruff check .

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

## make ui-test: README's Dagster walkthrough in Debian's chromium (selenium): a throwaway home
## under .tmp/ui-test (demo, gate), `intel-assets ui` on free ports, the lineage, SPY's and IBM's
## partition pages and the gate page checked; screenshots in .tmp/ui-test/shots (~3 min)
ui-test: $(STAMP)
	@bash scripts/ui-test.sh $(PYTEST_ARGS)

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
