# coursekit: every target creates and uses the project-local virtual environment .venv
# The venv is made from the system's Python when there is one: every user can run it,
# so grading can run as an unprivileged user (and its tests do).
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all test install demo bench clean sandbox release grade-samples book book-assets lab browser

# The main job: install, then run the course end to end.
all: install demo book grade-samples

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,book]"
	touch $(STAMP)

# Students need nothing else: no root, no bubblewrap (those are for grading: `make sandbox`).
install: $(STAMP) lab-settings

# Train a network on the handwritten digits and print the learning curve summary.
demo: install
	MPLBACKEND=Agg $(PY) -m coursekit.demo

# ---------------------------------------------------------------------------
# The book (book/README.md). Offline browser assets: `npm ci` installs the
# versions pinned in book/package-lock.json into book/node_modules (ignored);
# copy_assets.py copies the few files the pages load into book/_assets (ignored).
BOOK_NPM    := book/node_modules/.package-lock.json
BOOK_ASSETS := book/_assets/.copied

$(BOOK_NPM): book/package.json book/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm; \
	  else echo "npm is missing: install Node.js/npm (Debian: apt-get install npm)" >&2; exit 1; fi; }
	cd book && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(BOOK_ASSETS): $(BOOK_NPM) book/copy_assets.py book/static_src/require-config.js
	$(PYTHON) book/copy_assets.py
	touch $@

book-assets: $(BOOK_ASSETS)

# Execute every chapter and build the offline HTML book into book/_build/html;
# prints each chapter's execution time. Fails if any cell fails.
book: install book-assets
	$(PY) book/build.py

# JupyterLab on book/: chapters open as notebooks (jupyter/overrides.json, installed
# by lab-settings); build output and npm files are hidden (jupyter/jupyter_lab_config.py).
.PHONY: lab-settings format-book
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

$(LAB_SETTINGS): jupyter/overrides.json | $(STAMP)
	mkdir -p $(dir $@)
	cp jupyter/overrides.json $@

lab-settings: $(LAB_SETTINGS)

lab: install lab-settings
	$(VENV)/bin/jupyter lab --config=jupyter/jupyter_lab_config.py $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Format the chapters' code cells to the book's line length (book/format_book.py).
format-book: install
	$(PY) book/format_book.py

# Headless Chromium for the book's browser test (tests/test_book.py).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "warning: /usr/bin/chromium is missing and we are not root: the browser test will be skipped (it fails under CI=true)" >&2; fi

# All tests (what .ci/run calls).
test: install book-assets browser sandbox
	MPLBACKEND=Agg $(PY) -m pytest -n 2 --dist loadgroup -q

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) book/_build book/node_modules book/_assets build *.egg-info

# ---------------------------------------------------------------------------
# Grading (`coursekit grade --help`). Student code runs in a bubblewrap sandbox, as root
# or as a normal user (unprivileged user namespaces). As root, bubblewrap is installed
# when missing; a normal user is told what to ask for.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else echo "grading needs bubblewrap: ask your administrator for the package 'bubblewrap' (no setuid needed)" >&2; exit 1; fi; }

# Regenerate the student release assignments/ from solutions/ with nbgrader.
release: install
	$(PY) -m coursekit.cli release

# Grade the sample class (examples/class) into a course folder of its own and check
# every score and reason against examples/class/expected.csv.
ASSIGNMENTS   := A1 A2 A3 A4 A5
SAMPLE_LIMITS := --cell-timeout 3 --time-limit 15 --regrade --quiet
grade-samples: install sandbox release
	@for a in $(ASSIGNMENTS); do \
	  $(PY) -m coursekit.cli grade $$a --submissions examples/class/$$a --course-dir grading/samples \
	    $(SAMPLE_LIMITS) --expect examples/class/expected.csv || exit 1; done
