# The two README commands: `make demo` and `make test`. Both install what is missing
# (a virtual environment with the pinned requirements, Debian's ffmpeg when we are root)
# and are safe to run again.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
BIN := $(VENV)/bin
# The stamp changes with the requirements, the package metadata and the checkout path
# (the package is installed in editable mode, pointing at this checkout).
STAMP := $(VENV)/.stamp-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-10)-$(shell echo $(CURDIR) | sha1sum | cut -c1-8)

.PHONY: demo report tensorboard cost test install ffmpeg lint unit workflow-test clean-results

install: $(STAMP) ffmpeg

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.stamp-*
	touch $@

ffmpeg:
	@if ! command -v ffmpeg >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's ffmpeg"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else \
	    echo "ffmpeg is missing: install it (e.g. 'sudo apt-get install ffmpeg') and run make again" >&2; \
	    exit 1; \
	  fi; \
	fi

# The demo ends with the HTML report and a summary: the headline table and where the
# report, figures and TensorBoard logs are.
demo: install
	$(BIN)/snakemake demo --cores $(CORES) --rerun-incomplete --show-failed-logs
	$(BIN)/snakemake demo --report results/report.html
	@echo
	@echo "Results: results/synthetic_*/student.json (and teacher_*.json beside it)"
	@$(BIN)/python -m timebalance.data.extraction_summary results
	@$(BIN)/python -m timebalance.report.summary results

# The HTML report of REPORT_TARGET (default: the demo; e.g. REPORT_TARGET=figures adds
# Fig. 5), building what is missing first.
REPORT_TARGET ?= demo
report: install
	$(BIN)/snakemake $(REPORT_TARGET) --cores $(CORES) --rerun-incomplete --show-failed-logs
	$(BIN)/snakemake $(REPORT_TARGET) --report results/report.html
	@echo "Report: results/report.html"

# GPU-hours and wall time of COST_TARGET's jobs on GPUS per node x NODES, before running
# them: results/cost/<target>.md and .csv (per-clip costs from results/cost/calibration.json,
# written by `python -m timebalance.workflow.cost calibrate` on the GPU; README "Cost").
# COST_ARGS: more options, e.g. COST_ARGS="--config schedule=paper 'seeds=[0,1,2]'".
COST_TARGET ?= paper_grid
GPUS ?= 1
NODES ?= 1
COST_ARGS ?=
cost: install
	$(BIN)/python -m timebalance.workflow.cost plan $(COST_TARGET) --gpus $(GPUS) --nodes $(NODES) $(COST_ARGS)

# TensorBoard over every training run's event files (results/tensorboard/<rule>/<run>).
tensorboard: install
	$(BIN)/tensorboard --logdir results/tensorboard

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint --cores 1

unit: install
	$(BIN)/python -m pytest -q -m "not slow"

test: install
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q --durations=15

clean-results:
	rm -rf results .snakemake
