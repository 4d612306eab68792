# Two commands on a fresh machine: `make book` (set up, run every chapter at the default scale, build
# the HTML book) and `make test` (unit tests, every chapter at smoke scale under nbval, a CPU dry run of
# the full scale, a -W build of the smoke book and a headless-browser check of its pages). `make test`
# builds into _build/test/ and never touches the reader's book (_build/html, book/executed/).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= default
CHAPTERS ?=
# The pinned CPU environment (exact versions and sha256 hashes) that `env` installs; `make lock`
# regenerates it from pyproject.toml (+ the test extra) with pip-tools in its own venv.
LOCK := requirements.lock
LOCKVENV := .venv-lock
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.6.2

TEST_BOOK := _build/test
HTML ?= _build/html

.PHONY: book test env lock assets run html render-full full unit smoke dry-run nbval test-html check-html clean

book: env assets
	$(PY) -m scpaper run $(CHAPTERS) --scale $(SCALE)
	$(MAKE) html
	@echo "book: _build/html/index.html"

test: env assets
	$(MAKE) unit
	$(MAKE) smoke
	$(MAKE) dry-run
	$(MAKE) nbval
	$(MAKE) test-html
	$(MAKE) check-html HTML=$(TEST_BOOK)/_build/html

env: $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -c "import elasticdeform, torch, jupyter_book, scpaper"
	touch $@

# Regenerate $(LOCK): existing pins are kept unless pyproject.toml needs otherwise; UPGRADE=1 takes
# the newest versions allowed. pip-compile uses this machine's pip settings (pip config list), whose
# --find-links holds the CPU torch wheel.
define LOCK_HEADER
# The pinned CPU environment (Python 3.11, Linux x86_64) that `make book` and `make test` install:
#   pip install --require-hashes -r requirements.lock && pip install --no-deps -e .
# Generated from pyproject.toml and its `test` extra by `make lock`; do not edit by hand.
# torch: 2.13.0+cpu is the CPU wheel in /opt/wheels (--find-links below); its one hash is that
#   file's. PyPI's torch 2.13.0 is the CUDA build (GBs, pulls nvidia-*) and matches neither the
#   version nor the hash, so pip never fetches it.
# elasticdeform: built from its sdist (--no-binary below: its wheels are built against NumPy 1 and
#   fail to import under NumPy 2); its one hash is the sdist's. The build's own requirements
#   (setuptools, numpy from setup_requires) go into pip's isolated build env, unpinned and unhashed.
endef
export LOCK_HEADER

lock:
	test -d $(LOCKVENV) || $(PYTHON) -m venv $(LOCKVENV)
	$(LOCKVENV)/bin/python -m pip install -q pip==$(PIP_VERSION) pip-tools==$(PIP_TOOLS_VERSION)
	rm -f $(LOCK).tmp; if [ -f $(LOCK) ]; then cp $(LOCK) $(LOCK).tmp; fi
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCKVENV)/bin/pip-compile --quiet $(if $(UPGRADE),--upgrade) \
	  --generate-hashes --allow-unsafe --strip-extras --extra test --no-emit-index-url \
	  --pip-args "--no-binary elasticdeform" --output-file $(LOCK).tmp pyproject.toml
	grep -q '^torch==[^ ]*+cpu ' $(LOCK).tmp || (echo "lock: torch is not the local CPU build" >&2; exit 1)
	! grep -Eq '^(nvidia-|cuda-|triton)' $(LOCK).tmp || (echo "lock: CUDA packages in the lock" >&2; exit 1)
	{ printf '%s\n' "$$LOCK_HEADER"; cat $(LOCK).tmp; } > $(LOCK)
	rm -f $(LOCK).tmp

assets: build-assets/mathjax/tex-mml-chtml.js

build-assets/mathjax/tex-mml-chtml.js: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf build-assets/mathjax
	mkdir -p build-assets/mathjax/output/chtml/fonts
	cp node_modules/mathjax/es5/tex-mml-chtml.js build-assets/mathjax/
	cp -r node_modules/mathjax/es5/output/chtml/fonts/woff-v2 build-assets/mathjax/output/chtml/fonts/

run: env
	$(PY) -m scpaper run $(CHAPTERS) --scale $(SCALE)

html: env assets
	$(PY) -m scpaper render

unit: env
	$(PY) -m pytest tests

smoke: env
	$(PY) -m scpaper run --scale smoke --no-stage

dry-run: env
	$(PY) -m scpaper run --scale full --dry-run --device cpu

nbval: env
	$(PY) -m pytest -p no:cacheprovider --nbval-lax $$($(PY) -m scpaper notebooks --scale smoke)

test-html: env assets
	$(PY) -m scpaper render --scale smoke --into $(TEST_BOOK)

check-html: env
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) scripts/check_rendered.py $(HTML)

full: env
	$(PY) -m scpaper run $(CHAPTERS) --scale full --device cuda

render-full: env assets
	$(PY) -m scpaper render --scale full --fallback default

clean:
	rm -rf _build book/executed results/smoke results/default results/full-dry-run

# Mutation testing of the core modules (mutation/modules.toml; slow, not in CI): prints the kill rate per module.
.PHONY: mutants
MODULES ?=
mutants: env
	$(PY) -m pip install -q "mutmut==3.8.1"
	nice -n 19 $(PY) mutation/run.py $(MODULES)
