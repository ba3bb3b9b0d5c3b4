# visiongate — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
LOCAL  ?= 0
# The CPU build of PyTorch; a different version pulls gigabytes of CUDA packages.
TORCH  := torch==2.13.0

ifeq ($(LOCAL),1)
RUN_TARGET := .[local]
else
RUN_TARGET := .
endif

.PHONY: run test lint format bench bench-litellm venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Installs are stamped with the pyproject's hash so a second `make` starts at once.
STAMP = $(VENV)/.installed-$(1)$(if $(filter 1,$(LOCAL)),-local)-$(shell sha1sum pyproject.toml | cut -c1-12)

$(call STAMP,run): $(BIN)/python pyproject.toml
	@if [ "$(LOCAL)" = "1" ]; then $(BIN)/pip install -q "$(TORCH)"; fi
	$(BIN)/pip install -q -e "$(RUN_TARGET)"
	@touch $@

$(call STAMP,test): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[test,local]"
	@touch $@

venv: $(call STAMP,test)

run: $(call STAMP,run)
	@scripts/dev-run.sh

test: $(call STAMP,test)
	@scripts/ensure-services.sh
	@scripts/ensure-browser.sh
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest

lint: $(call STAMP,test)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(call STAMP,test)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(call STAMP,test)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
