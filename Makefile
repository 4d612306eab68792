# Two commands on a fresh machine: `make book` (set up, run every chapter at the default scale, build
# the HTML book) and `make test` (unit tests, every chapter at smoke scale under nbval, a -W book
# build and a headless-browser check of the rendered pages).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
SCALE ?= default
CHAPTERS ?=

.PHONY: book test env assets run html render-full full unit smoke nbval check-html clean

book: env assets
	$(PY) -m scpaper run $(CHAPTERS) --scale $(SCALE)
	$(MAKE) html
	@echo "book: _build/html/index.html"

test: env assets
	$(MAKE) unit
	$(MAKE) smoke
	$(MAKE) nbval
	$(MAKE) html
	$(MAKE) check-html

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PIP_NO_BINARY=elasticdeform $(PY) -m pip install -q -e ".[test]"
	$(PY) -c "import elasticdeform, torch, jupyter_book, scpaper"
	touch $@

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
	rm -rf _build/html
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(JB) build . -W -n --keep-going

unit: env
	$(PY) -m pytest tests

smoke: env
	$(PY) -m scpaper run --scale smoke

nbval: env
	$(PY) -m pytest -p no:cacheprovider --nbval-lax $$($(PY) -m scpaper notebooks --scale smoke)

check-html: env
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(PY) scripts/check_rendered.py _build/html

full: env
	$(PY) -m scpaper run $(CHAPTERS) --scale full --device cuda

render-full: env assets
	$(PY) -m scpaper render --scale full

clean:
	rm -rf _build book/executed results/smoke results/default

# Mutation testing of the core modules (mutation/modules.toml; slow, not in CI): prints the kill rate per module.
.PHONY: mutants
MODULES ?=
mutants: env
	$(PY) -m pip install -q "mutmut==3.8.1"
	nice -n 19 $(PY) mutation/run.py $(MODULES)
