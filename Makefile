# Two entry points:  `make run`  (install + reproduce the study)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
CORES  ?= 1
CONFIG ?=
BIN    := $(VENV)/bin

.PHONY: install run smoke test lint format clean

$(BIN)/.greenbench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,workflow,energy,slurm]"
	touch $@

install: $(BIN)/.greenbench-installed

run: install
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

smoke: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml

test: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow

format: install
	$(BIN)/snakefmt workflow

clean:
	rm -rf results .snakemake
