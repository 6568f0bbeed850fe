# coursekit: every target creates and uses the project-local virtual environment .venv
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: all test install demo bench clean

# The main job: install, then run the course end to end.
all: install demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,book]"
	touch $(STAMP)

install: $(STAMP)

# Train a network on the handwritten digits and print the learning curve summary.
demo: install
	MPLBACKEND=Agg $(PY) -m coursekit.demo

# All tests (what .ci/run calls).
test: install
	MPLBACKEND=Agg $(PY) -m pytest -n 2 -q

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) book/_build build *.egg-info
