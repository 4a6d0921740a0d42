# Two entry points:  `make run`  (install + reproduce the study)  and  `make test`.
PYTHON ?= python3
# The environment: .venv in the clone, or, in a clone whose path holds a space, a folder named after it under
# ~/.cache/greenbench (torch's inductor passes its own install path to g++ unquoted, so a torch installed under
# such a path cannot compile; greenbench's own jobs take any path)
ifeq ($(word 2,$(CURDIR)),)
VENV   ?= .venv
else
VENV   ?= $(HOME)/.cache/greenbench/venv-$(shell printf %s "$(CURDIR)" | sha256sum | cut -c1-12)
endif
TORCH  ?= torch==2.13.0
# Snakemake cores: compute.threads (2) where the host has them. The fine-tune, the forecasters and the energy
# trials ask for compute.threads and run alone; the other compute jobs, recoveries included, ask for
# compute.shared_threads (1): two side by side.
CORES  ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -ge 2 ] && echo 2 || echo 1)
CONFIG ?=
BIN    := $(VENV)/bin
# The GPU extra (nvidia-ml-py) when this host has an NVIDIA GPU.
comma  := ,
EXTRAS := test,workflow,energy,slurm,openvino$(if $(shell command -v nvidia-smi 2>/dev/null),$(comma)gpu)
KIT    ?= gpu-kit
PIECE  ?= 0
TORCHAO_WHEEL ?= torchao==0.18.0

.PHONY: install run smoke test lint format clean gpu-kit gpu-check

# Bytecode: compiled after the install on every core (pip compiles one file at a time, 50 of the install's
# 115 s on 2 cores; compileall -j 0: 33 s). A file that is not Python 3 (test data inside a wheel) fails
# there as pip skips it; the jobs need the bytecode only for speed.
$(BIN)/.greenbench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH)"
	$(BIN)/python -m pip install --quiet --no-compile -e ".[$(EXTRAS)]"
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

install: $(BIN)/.greenbench-installed

# validate-config first: a YAML syntax error or a missing file is named with its file and line
run: install
	$(if $(CONFIG),$(BIN)/python -m greenbench validate-config --config $(CONFIG))
	$(BIN)/snakemake --cores $(CORES) $(if $(CONFIG),--configfile $(CONFIG))

smoke: install
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml

test: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow
	$(BIN)/ruff check src scripts tests benchmarks experiments
	$(BIN)/ruff format --check src scripts tests benchmarks experiments

format: install
	$(BIN)/snakefmt workflow
	$(BIN)/ruff format src scripts tests benchmarks experiments

# Where the study ran: the fine-tuned baseline (float16), tokens and the torchao wheel. Refused when the
# checkout plus the kit would pass 60 MiB (a lent node takes 64 MiB in one copy).
gpu-kit: install
	rm -rf $(KIT).wheels && $(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: -d $(KIT).wheels "$(TORCHAO_WHEEL)"
	$(BIN)/python -m greenbench gpu-kit --out $(KIT) $$(for w in $(KIT).wheels/*.whl; do printf -- '--wheel %s ' "$$w"; done)
	rm -rf $(KIT).wheels

# On the GPU node (no venv, no Snakemake, no network): the node's python3 with the kit's wheels, installed
# outside the kit and the checkout (GPU_SITE), so neither grows. OUT (a lent node sets it): where the
# results go, straight in. PIECE=0 is the quick check (about 290 s on an H100 by its own estimate;
# `python3 -m greenbench gpu-check --estimate` prints it); PIECE=1..9 the rest of the paper grid;
# FULL=1 runs 1..9 in turn; PIECE=10 the runtime axis (torch.compile, CUDA graphs via inductor, ONNX Runtime).
GPU_SITE  ?= $(or $(TMPDIR),/tmp)/greenbench-gpu-site
GPU_ENV   := PYTHONPATH="src:$(GPU_SITE)" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 \
             TORCHAO_FORCE_SKIP_LOADING_SO_FILES=1
gpu-check:
	@test -f $(KIT)/kit.json || { echo "no $(KIT)/kit.json: run 'make gpu-kit' where the study ran and copy $(KIT)/ here"; exit 2; }
	@if ls $(KIT)/wheels/*.whl >/dev/null 2>&1; then python3 -m pip install --quiet --no-index --no-deps --no-compile \
	    --upgrade --target "$(GPU_SITE)" $(KIT)/wheels/*.whl; fi
	$(GPU_ENV) python3 -m greenbench gpu-check --kit $(KIT) $(if $(FULL),--list-pieces,--piece $(PIECE)) \
	    $(if $(OUT),$(if $(FULL),,--out "$(OUT)")) $(GPU_CHECK_ARGS)
	$(if $(FULL),for p in 1 2 3 4 5 6 7 8 9; do $(GPU_ENV) python3 -m greenbench gpu-check --kit $(KIT) --piece $$p \
	    $(if $(OUT),--out "$(OUT)/piece-$$p") $(GPU_CHECK_ARGS) || exit 1; done)

clean:
	rm -rf results .snakemake
