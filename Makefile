# edgeship: every target installs what it needs first (idempotent; stamps make re-runs instant).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# `make demo` serves a folder of exports holding the demo, so that fine-tuned uploads ("Convert for mobile")
# become exports beside it (a single export folder takes none).
EXPORTS_DIR ?= dist/exports
DEMO_DIR ?= $(EXPORTS_DIR)/demo
HOST ?= 127.0.0.1
PORT ?= 8000
# `make demo LAN=1`: HTTPS for phones on this network (edgeship serve --lan), instead of loopback only.
SERVE_WHERE = $(if $(LAN),--lan,--host $(HOST))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup browsers demo serve test test-py test-e2e lint format bench bench-official zoo clean

# What `make demo` and `make lint` need: no apt, no sudo.
setup: $(VENV)/.installed node_modules/.installed webapp/static/vendor/.installed

# Only the browser tests (and the bench's browser figures) need Debian's Chromium and nginx; certutil puts
# `edgeship serve --lan`'s CA into the phone test's own NSS database, as a phone trusts it.
browsers: /usr/bin/chromium /usr/sbin/nginx /usr/bin/certutil

$(VENV)/.installed: requirements.lock pyproject.toml
	@# A new lock starts from an empty venv: pip would leave behind what the old lock had and this one drops.
	@if [ -f $@ ] && [ requirements.lock -nt $@ ]; then echo "requirements.lock changed: rebuilding $(VENV)"; rm -rf $(VENV); fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

node_modules/.installed: package-lock.json package.json
	# `npm ci`: exactly the committed lock, which is never rewritten (it lists every platform's optional
	# packages, rollup's included, so no machine adds its own).
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's Chromium: Playwright cannot download its own browser here.
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

/usr/bin/certutil:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnss3-tools >/dev/null

# Debian's nginx: the e2e tests serve `edgeship build-site` output with it (the generated _nginx.conf).
# Installed, never started as a service.
/usr/sbin/nginx:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
	-$(SUDO) /usr/sbin/nginx -s quit 2>/dev/null

# The app serves tfjs, tfjs-tflite and their .wasm files itself (no CDN), then builds the service worker,
# whose precache list names every file of the app: so any change to the app's files rebuilds it.
APP_FILES := $(shell find webapp/static -type f -not -path 'webapp/static/vendor/*' -not -name sw.js -not -name '*.map' 2>/dev/null)
webapp/static/vendor/.installed: node_modules/.installed scripts/vendor.sh workbox-config.cjs service_worker/sw.js $(APP_FILES)
	bash scripts/vendor.sh
	@touch $@

demo: setup
	$(BIN)/edgeship demo --out $(DEMO_DIR)
	$(BIN)/edgeship serve $(EXPORTS_DIR) $(SERVE_WHERE) --port $(PORT)

serve: setup
	$(BIN)/edgeship serve $(EXPORTS_DIR) $(SERVE_WHERE) --port $(PORT)

test: setup lint test-py test-e2e

# Two pytest workers (CI has 2 cores): most tests wait on a TensorFlow subprocess or a converter, one core
# each. Whole files per worker (--dist loadfile), so a module's fixture (an export) is built once.
TEST_WORKERS ?= 2
test-py: setup browsers /usr/bin/wrk bench-official  # the bench smoke test drives Chromium, wrk and the official tools too
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

test-e2e: setup browsers
	npx playwright test

lint: setup
	$(BIN)/ruff check edgeship exporter webapp tests bench build_backend e2e
	$(BIN)/ruff format --check edgeship exporter webapp tests bench build_backend e2e
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache  # one-way layers: edgeship -> webapp -> exporter ([tool.importlinter])
	npx prettier --check "webapp/static/**/*.{js,css,html,json}" "service_worker/**/*.js" "e2e/**/*.{js,mjs}" "tests/**/*.mjs" "*.config.*js"
	npx eslint webapp/static service_worker e2e tests

format: setup
	$(BIN)/ruff format edgeship exporter webapp tests bench build_backend e2e
	$(BIN)/ruff check --fix edgeship exporter webapp tests bench build_backend e2e
	npx prettier --write "webapp/static/**/*.{js,css,html,json}" "service_worker/**/*.js" "e2e/**/*.{js,mjs}" "tests/**/*.mjs" "*.config.*js"

# Debian's wrk: the benchmark's server-load figures.
/usr/bin/wrk:
	$(SUDO) apt-get update -qq
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null

# The official tools the benchmark compares with, in a venv of their own: tensorflowjs_converter 4.22 pins
# tensorflow 2.19 (through TF Decision Forests and ydf), which edgeship's venv does not have (docs/STACK.md).
OFFICIAL_VENV := bench/.venv-official
bench-official: $(OFFICIAL_VENV)/.installed

$(OFFICIAL_VENV)/.installed: bench/official.lock
	@test -x $(OFFICIAL_VENV)/bin/python || $(PYTHON) -m venv $(OFFICIAL_VENV)
	$(OFFICIAL_VENV)/bin/python -m pip install -q --disable-pip-version-check -r bench/official.lock
	@touch $@

bench: setup browsers /usr/bin/wrk bench-official
	$(BIN)/python -m bench.run
	@if [ "$(ZOO)" = 1 ]; then $(MAKE) --no-print-directory zoo; fi  # make bench ZOO=1: the coverage suite too

# The coverage suite: every keras.applications family through the real CLI, one model at a time, into
# bench/RESULTS.md (its zoo section) and bench/zoo.json. ZOO_ARGS=--all: every member, not the smallest.
zoo: setup
	$(BIN)/python -m bench.zoo $(ZOO_ARGS)

clean:
	rm -rf $(VENV) $(OFFICIAL_VENV) node_modules webapp/static/vendor dist test-results playwright-report
