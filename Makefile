# Circuit Lab: one command to set up, one to test.
#   make test      create .venv, install everything, run the whole suite
#   make lab       same install, then JupyterLab on your own copies of the chapters
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
# Tests and notebooks never touch the network.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export PYTHONWARNINGS := ignore::DeprecationWarning

.PHONY: install test test-fast lab notebooks workspace bench release autograde lock clean help

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, at the pinned CPU build: an unpinned torch would pull a multi-GB CUDA build.
	$(PIP) install --quiet torch==$(TORCH_VERSION)
	$(PIP) install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest -q -n 2 --dist loadgroup --no-loadscope-reorder tests

# The suite without the slow notebook executions.
test-fast: install
	$(PY) -m pytest -q tests -m "not notebook"

notebooks: install
	$(PY) -m circuitlab.authoring.build

workspace: install
	$(PY) -m circuitlab.workspace

lab: install workspace
	$(VENV)/bin/jupyter lab workspace/

bench: install
	$(PY) -m circuitlab.bench

release: install
	$(VENV)/bin/circuitlab release $(or $(OUT),course_out)

autograde: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=folder-or-zip [COURSE=course_out] [OUT=grades_out] [WORKERS=1]"; exit 2; }
	$(VENV)/bin/circuitlab autograde $(SUBMISSIONS) --course $(or $(COURSE),course_out) --out $(or $(OUT),grades_out) --workers $(or $(WORKERS),1)

# Refresh the lock file after a deliberate dependency change.
lock: install
	$(PIP) freeze --exclude-editable | grep -v '^circuitlab' | sed -E 's/^torch==([0-9.]+)\+cpu/torch==\1/' > constraints.txt

clean:
	rm -rf $(VENV) build dist utils/*.egg-info
