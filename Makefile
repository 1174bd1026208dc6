# Two entry points for a fresh machine (see README.md):
#   make serve   set up the site's Python environment, then serve the site on http://127.0.0.1:8000/
#   make test    set up everything the tests need (system packages too, when run as root), then run them
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest-xdist workers of make test (CI's 2-core machine: 2); JOBS=0 runs the tests in one process.
JOBS ?= auto
# System packages the tests use: shellcheck (shell code), nginx + chromium + a CJK font (browser tests),
# poppler-utils (reading the PDF), slurm-wlm + munge (batch scripts run under a real Slurm),
# bubblewrap (the page walk runs each shell block in a namespace modelling its node), nodejs (the search tests run
# Material's own search worker).
APT_PACKAGES := shellcheck nginx chromium fonts-wqy-microhei poppler-utils slurm-wlm munge bubblewrap nodejs
export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: serve test build system clean envs regen lint require-site-url

$(VENV)/.site-deps: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# One environment per tutorial (.envs/NN-slug), exactly the pins its page gives, made with uv
# (src/scow_tutorials/envs.py).
envs: $(VENV)/.site-deps
	$(PY) -m scow_tutorials.envs

# Derived files (wheels.txt from requirements.txt, README's tables): src/scow_tutorials/derived.py rewrites them;
# tests/test_derived.py fails while one is stale.
regen: $(VENV)/.site-deps
	$(PY) -m scow_tutorials.derived

serve: $(VENV)/.site-deps
	$(VENV)/bin/mkdocs serve -a 127.0.0.1:8000

# A deployment build and the offline bundle are made for the address readers open: without SITE_URL every wget
# line, the portal YAML and the bundle would point at the local test address (make serve keeps that default).
require-site-url:
	@if [ -z "$$SITE_URL" ]; then \
	  echo "SITE_URL is not set: the build would point every wget line and link at http://127.0.0.1:8000/." >&2; \
	  echo "Give the address the site is served at, e.g.: SITE_URL=https://hpc.example.edu.cn/tutorial/ make $(MAKECMDGOALS)" >&2; \
	  exit 2; \
	fi

# Writes site/ with security-headers.conf (the Content-Security-Policy for nginx) and a .gz per text file.
build: require-site-url $(VENV)/.site-deps
	$(VENV)/bin/mkdocs build --strict

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "Missing system packages:$$missing. Install them with: sudo apt-get install$$missing" >&2; \
	  echo "(tests that need them are skipped)" >&2; \
	fi

# The lint gate: ruff (lint and format) and mypy over the package, the hooks and the tools (pyproject.toml).
LINT_PATHS := src/scow_tutorials overrides/hooks tools
lint: $(VENV)/.site-deps
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

test: system envs lint
	$(VENV)/bin/pytest -n $(JOBS) --dist loadgroup

clean:
	rm -rf site $(VENV) .envs .pytest_cache

.PHONY: bundle benchmark verify-gpu
# On a GPU node: run the GPU tests and Tutorial 14's bench.py, write docs/tutorials/*/gpu-record.json and point the
# cards at them (tools/verify_gpu.py). ONLY="14 07" limits it to some tutorials.
verify-gpu: system envs
	$(PY) tools/verify_gpu.py $(if $(ONLY),--only "$(ONLY)")

bundle: require-site-url $(VENV)/.site-deps
	$(PY) tools/bundle.py --out build

benchmark: $(VENV)/.site-deps
	test -d tools/lighthouse/node_modules || (cd tools/lighthouse && npm ci --no-audit --no-fund)
	$(PY) tools/benchmark.py
	$(PY) tools/loadtest.py
