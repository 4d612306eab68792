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
TEST_BOOK := _build/test
HTML ?= _build/html

.PHONY: book test env assets run html render-full full unit smoke dry-run nbval test-html check-html clean

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
