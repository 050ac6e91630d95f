# bijstand-effects: one command reproduces everything, one tests everything.
#   make reproduce   venv + `bijstand reproduce` (data + every run of params/paper.yaml + paper)
#   make test        venv + `bijstand test` (unit tests + every notebook under nbval, small default parameters)
# Every step is a `bijstand` command, so Windows without make runs the same thing:
#   .venv\Scripts\python -m bijstand reproduce   /   .venv\Scripts\python -m bijstand test   (README)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
BIJSTAND    := $(VENV)/bin/bijstand
PARAMS      ?= params/paper.yaml
STAMP       := $(VENV)/.installed
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg

.PHONY: help reproduce test venv data notebooks runs paper bench lab lock clean FORCE

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

reproduce: $(STAMP)  ## everything: environment, data, every run of $(PARAMS), paper (skips what is up to date)
	$(BIJSTAND) reproduce --params $(PARAMS)

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

notebooks: $(STAMP)  ## execute every run of $(PARAMS) into build/notebooks/<run>.ipynb (skips what is up to date)
	$(BIJSTAND) run --params $(PARAMS) --skip-up-to-date

build/notebooks/%.ipynb: $(STAMP) FORCE  # one run: make build/notebooks/<run>.ipynb
	$(BIJSTAND) run $* --params $(PARAMS) --skip-up-to-date

runs: $(STAMP)  ## the runs of $(PARAMS): run, notebook, up to date or not
	@$(BIJSTAND) plan --params $(PARAMS) --status

paper: $(STAMP)  ## build the paper (PDF + HTML) from results/
	$(BIJSTAND) paper --results results --params $(PARAMS) --out build/paper

test: $(STAMP)  ## unit tests + every notebook under nbval (results go to build/test-results/)
	$(BIJSTAND) test

bench: $(STAMP)  ## speed and memory benchmarks (prints machine, command and timings)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lab: $(STAMP)  ## open JupyterLab on the project's environment
	$(VENV)/bin/jupyter lab notebooks/

lock: $(STAMP)  ## re-pin requirements.lock to what .venv holds now
	$(PY) -m pip freeze --exclude-editable | grep -v '^bijstand' > requirements.lock

clean:  ## remove build output and results (keeps .venv, data and private/)
	rm -rf build results

FORCE:
