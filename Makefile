# Two entry points: `make demo` runs the main job on the embedded demo marketplace,
# `make test` runs the whole test suite. Both create the virtual environment they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo

.PHONY: demo test install clean

$(BIN)/recommender: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/recommender

demo: install
	$(BIN)/recommender demo-data --out $(DEMO_DIR)
	$(BIN)/recommender validate --purchases $(DEMO_DIR)/purchases.csv --catalog $(DEMO_DIR)/catalog.csv

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info
