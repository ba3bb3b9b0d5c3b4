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

.PHONY: run test lint fuzz smoke format bench bench-litellm venv clean

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

# ruff (with its ASYNC, S and B rules, pyproject.toml) and mypy on src/ (no untyped defs).
lint: $(call STAMP,test)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The end-to-end smoke tests on the other supported Pythons (pyenv's python3.12 /
# python3.13 first, else the system's), each in its own venv without the 3.11-only
# `local` extra.
SMOKE_PYTHONS ?= 3.12 3.13
SMOKE_TESTS := tests/e2e/test_chat_e2e.py tests/e2e/test_errors_e2e.py \
	tests/e2e/test_hardening_e2e.py tests/e2e/test_proxy_e2e.py tests/e2e/test_fault_matrix_e2e.py

smoke:
	@set -e; for v in $(SMOKE_PYTHONS); do \
		echo "== Python $$v"; \
		py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null | tail -1); \
		[ -n "$$py" ] || py=$$(command -v python$$v); \
		[ -x .venv-$$v/bin/python ] || $$py -m venv .venv-$$v; \
		.venv-$$v/bin/pip install -q --upgrade pip; \
		.venv-$$v/bin/pip install -q -e ".[test]"; \
		.venv-$$v/bin/python -m pytest -q -p no:cacheprovider $(SMOKE_TESTS); \
	done

# The long fuzzing runs: 10,000 schema-generated chat requests, 3,000 examples per property.
fuzz: $(call STAMP,test)
	VISIONGATE_FUZZ_EXAMPLES=10000 HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -s \
		tests/e2e/test_schema_fuzz_e2e.py tests/unit/test_properties.py

format: $(call STAMP,test)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(call STAMP,test)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache build *.egg-info
