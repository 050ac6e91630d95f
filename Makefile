# bijstand-effects: one command reproduces everything, one tests everything.
#   make reproduce   venv + data + every notebook (params/paper.yaml) + paper
#   make test        venv + unit tests + every notebook under nbval (small default parameters)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
BIJSTAND    := $(VENV)/bin/bijstand
PARAMS      ?= params/paper.yaml
STAMP       := $(VENV)/.installed
NOTEBOOKS   := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
EXECUTED    := $(patsubst notebooks/%.ipynb,build/notebooks/%.ipynb,$(NOTEBOOKS))
SOURCES     := $(shell find src -name '*.py' 2>/dev/null)
PAPER_SRC   := $(wildcard paper/*)
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: help reproduce test venv data notebooks paper bench lab lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

reproduce: venv data notebooks paper  ## everything: environment, data, notebooks (paper.yaml), paper
	@echo "done: notebooks in build/notebooks/, results in results/, paper in build/paper/"

venv: $(STAMP)  ## create .venv with the locked package set (reused when up to date)

$(STAMP): requirements.lock pyproject.toml
	@set -e; \
	if [ ! -x $(PY) ]; then \
	  PYBIN=$$(tools/find-python); \
	  echo "creating $(VENV) with $$PYBIN"; \
	  "$$PYBIN" -m venv $(VENV); \
	fi; \
	$(PY) -c 'import sys; assert sys.version_info >= (3, 12), "$(VENV) is not Python >= 3.12: remove it and run make again"'
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m pip check
	@touch $@

data: $(STAMP)  ## synthetic register with the paper's seed and scale in data/synthetic/
	$(BIJSTAND) simulate --out data/synthetic --params $(PARAMS)

notebooks: $(EXECUTED)  ## execute every notebook with $(PARAMS) into build/notebooks/

build/notebooks/%.ipynb: notebooks/%.ipynb $(PARAMS) $(SOURCES) $(STAMP)
	$(BIJSTAND) run $* --params $(PARAMS)

paper: build/paper/paper.pdf  ## build the paper (PDF + HTML) from results/

build/paper/paper.pdf: $(PAPER_SRC) $(EXECUTED) $(STAMP)
	$(BIJSTAND) paper --results results --params $(PARAMS) --out build/paper

test: $(STAMP)  ## unit tests + every notebook under nbval (results go to build/test-results/)
	BIJSTAND_RESULTS_DIR=$(CURDIR)/build/test-results $(VENV)/bin/pytest -p no:cacheprovider \
	    tests notebooks --nbval-lax --durations=15

bench: $(STAMP)  ## speed and memory benchmarks (prints machine, command and timings)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lab: $(STAMP)  ## open JupyterLab on the project's environment
	$(VENV)/bin/jupyter lab notebooks/

lock: $(STAMP)  ## re-pin requirements.lock to what .venv holds now
	$(PY) -m pip freeze --exclude-editable | grep -v '^bijstand' > requirements.lock

clean:  ## remove build output and results (keeps .venv and data)
	rm -rf build results
