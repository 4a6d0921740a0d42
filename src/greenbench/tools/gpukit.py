"""The GPU kit: validate every GPU path with one command on an offline GPU node.

Two halves:

- ``make_kit`` (on a machine that ran the study): the fine-tuned baseline as half-precision
  safetensors (MiniLM: ~45 MB instead of the 84 MB packaged wheel), the train/dev tokens, the
  wheels the node lacks (torchao) and a manifest saying what was rounded and how much that changed
  the CPU predictions. Small enough to copy into a short, offline GPU allocation.
- ``run_check`` (on the node, no Snakemake, no network): accuracy of every GPU variant on the full
  SST-2 dev set, then energy trials with the real protocol and meters over a cell set sized to the
  allocation (``PIECES``: piece 0 is the quick check, pieces 1.. the rest of the paper grid), the
  same Parquet tables the pipeline writes, and a one-page ``summary.md`` with the acceptance
  criteria. ``--device cpu --tiny`` is the rehearsal CI runs, so the kit cannot rot.
"""

from __future__ import annotations

import copy
import json
import platform
import shutil
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from greenbench.data import models
from greenbench.core import io, provenance
from greenbench.measure.energy.protocol import Cell, estimate_trial_seconds
from greenbench.core.log import configure, get_logger

log = get_logger(__name__)

KIT_VARIANTS = ("fp32", "tf32", "fp16", "bf16", "autocast_fp16", "int8_weight_only", "int4_weight_only", "adaptive")
# the runtime axis on the GPU (its own piece: compiling takes minutes, and each trial runs in its own process)
RUNTIME_CELLS = ("fp32@torch_compile", "fp16@torch_compile", "fp32@torch_compile_cudagraphs",
                 "fp16@torch_compile_cudagraphs", "fp32@onnxruntime", "fp16@onnxruntime")
# What one copy into an allocation may carry: the lent machines take 64 MiB, the checkout (tracked and
# untracked files git does not ignore) plus the kit; 4 MiB of it are kept as a margin.
KIT_MAX_MB = 60.0
WHEEL_ALLOWANCE_MB = 4.0    # the kit's wheels together (torchao 0.18's is 3.2 MiB); more is refused
BASELINE = "fp32"
COMMAND_LIMIT_S = 600.0     # one command on a lent node
QUICK_LIMIT_S = 300.0       # the quick check's own estimate must stay within this (room for a second try)
# The node has no torchao; the kit's wheel is installed there, and its native libraries (mxfp8, CUTLASS
# kernels) are never needed by the kit's paths (int8/int4 weight-only run torch's own kernels).
NODE_ENV = {"TORCHAO_FORCE_SKIP_LOADING_SO_FILES": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Acceptance criteria (issue 14), checked in the summary.
MAX_DISAGREEMENT = 0.03     # median |counter - integrated| / counter
MAX_CV_BATCH8 = 0.02        # CV of net J/inference across trials, batch >= 8
MAX_OVERHEAD = 0.01         # sampler on vs off, energy (at each overhead cell)
MAX_HALF_DELTA_PTS = 0.3    # bf16/fp16 accuracy vs fp32, points
MIN_GRAPH_SPEEDUP = 5.0     # CUDA-graph replay vs eager latency at batch 1


def node_environment() -> None:
    """Set the node's environment (``NODE_ENV``) where the caller has not: before torchao is imported."""
    import os

    for key, value in NODE_ENV.items():
        os.environ.setdefault(key, value)


def safe_name(name: str) -> str:
    """A file name from a cell name (``fp32@torch_compile`` -> ``fp32-torch_compile``): letters, digits,
    ``._-`` only, so every file comes back from a node's output folder."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)


# --------------------------------------------------------------------------- sizes
def tree_bytes(root: str | Path = ".") -> int:
    """What a copy of the checkout carries: tracked files plus untracked files git does not ignore
    (where ``root`` is no git checkout: every file under it outside ``.git``)."""
    import subprocess

    root = Path(root)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True).stdout.split(b"\0")
        files = [root / name.decode() for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in root.rglob("*") if ".git" not in p.relative_to(root).parts]
    return sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())


def estimate_kit_bytes(model_dir: str | Path, train_tokens: str | Path, dev_tokens: str | Path, *,
                       dtype_bytes: int = 2, wheel_bytes: int | None = None) -> int:
    """The kit's size, computed without writing it: the classifier's parameters at ``dtype_bytes``
    each (its architecture from ``model_dir``'s config, built on the meta device), the tokenizer and
    config files, both token tables, and the wheels (default: their whole allowance)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(str(model_dir), num_labels=2)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    tensors = list(model.state_dict().values())
    params = sum(t.numel() for t in tensors)
    header = 100 * len(tensors) + 1024  # safetensors' JSON header: a name, dtype, shape and offsets per tensor
    side = sum((model_dir / n).stat().st_size for n in ("config.json", "vocab.txt", "tokenizer.json",
                                                         "tokenizer_config.json", "special_tokens_map.json")
               if (model_dir / n).is_file())
    wheels = int(WHEEL_ALLOWANCE_MB * 2**20) if wheel_bytes is None else int(wheel_bytes)
    return params * dtype_bytes + header + side + Path(train_tokens).stat().st_size + Path(dev_tokens).stat().st_size + wheels


def _mib(n: int | float) -> float:
    return round(n / 2**20, 2)


# --------------------------------------------------------------------------- the kit
def make_kit(model_dir: str | Path, train_tokens: str | Path, dev_tokens: str | Path, out: str | Path, *,
             model_name: str, max_length: int, wheels: list[str | Path] = (), dtype: str = "float16",
             batch_size: int = 64, max_mb: float = KIT_MAX_MB, tree: str | Path | None = ".") -> dict[str, Any]:
    """Write the kit into ``out`` atomically and return its manifest.

    The manifest records the accuracy of the fp32 original and of its ``dtype``-rounded copy
    (upcast back to fp32) on dev, on this machine's CPU, and how many predictions differ: the
    node's "fp32" is the rounded copy, and the reader must know by how much that matters.
    Refused (nothing written) when the checkout ``tree`` plus the kit would exceed ``max_mb``
    MiB, or the wheels their allowance; the message says by how much."""
    import torch

    from greenbench.cells import variants
    from greenbench.cells.inference import predict

    wheel_bytes = sum(Path(w).stat().st_size for w in wheels)
    if wheel_bytes > WHEEL_ALLOWANCE_MB * 2**20:
        raise ValueError(f"the kit's wheels are {_mib(wheel_bytes)} MiB, over their {WHEEL_ALLOWANCE_MB} MiB "
                         f"allowance by {_mib(wheel_bytes - WHEEL_ALLOWANCE_MB * 2**20)} MiB")
    tree_size = tree_bytes(tree) if tree is not None else 0
    out_path = Path(out).resolve()
    if tree is not None and out_path.is_relative_to(Path(tree).resolve()) and out_path.exists():
        tree_size -= tree_bytes(out_path)  # an older kit inside the checkout is replaced, not added
    dev = io.read_parquet(dev_tokens)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    original = models.load_classifier(str(model_dir)).float()
    rounded = models.load_classifier(str(model_dir)).to(getattr(torch, dtype))
    fp32 = variants.get(BASELINE)
    preds_orig = predict(fp32.prepare(original, "cpu", None, {}), dev, batch_size, pad_id)
    # the node's "fp32": the rounded weights upcast (a copy: `rounded` itself is saved in half precision)
    preds_round = predict(fp32.prepare(copy.deepcopy(rounded).float(), "cpu", None, {}), dev, batch_size, pad_id)
    manifest = {
        "model": model_name, "max_length": int(max_length), "dtype": dtype,
        "source": f"fine-tuned baseline shipped as {dtype} safetensors, upcast to fp32 on the node",
        "baseline_dir": str(model_dir), "git_commit": provenance.git_commit(), "created": date.today().isoformat(),
        "dev_examples": len(dev),
        "cpu_accuracy_fp32_original": float((preds_orig.prediction == preds_orig.label).mean()),
        f"cpu_accuracy_{dtype}_rounded": float((preds_round.prediction == preds_round.label).mean()),
        "cpu_predictions_changed_by_rounding": int((preds_orig.prediction != preds_round.prediction).sum()),
    }
    with io.atomic_directory(out) as tmp:
        rounded.save_pretrained(tmp / "model", safe_serialization=True)
        tokenizer.save_pretrained(tmp / "model")
        (tmp / "tokens").mkdir()
        shutil.copyfile(train_tokens, tmp / "tokens" / "train.parquet")
        shutil.copyfile(dev_tokens, tmp / "tokens" / "dev.parquet")
        if wheels:
            (tmp / "wheels").mkdir()
            for wheel in wheels:
                shutil.copyfile(wheel, tmp / "wheels" / Path(wheel).name)
        manifest["wheels"] = sorted(Path(w).name for w in wheels)
        kit_size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) + 4096  # + kit.json
        manifest.update(size_mb=_mib(kit_size), tree_mb=_mib(tree_size), total_mb=_mib(kit_size + tree_size),
                        max_total_mb=max_mb)
        if kit_size + tree_size > max_mb * 2**20:
            raise ValueError(f"the checkout ({manifest['tree_mb']} MiB) plus the GPU kit ({manifest['size_mb']} MiB) "
                             f"would be {manifest['total_mb']} MiB, {_mib(kit_size + tree_size - max_mb * 2**20)} MiB "
                             f"over the {max_mb} MiB one copy into an allocation may carry: remove bulk from the "
                             "checkout, or ship fewer wheels")
        io.write_json(manifest, tmp / "kit.json")
    log.info("GPU kit -> %s (%.1f MiB; with the checkout %.1f of %.0f MiB): %s", out, manifest["size_mb"],
             manifest["total_mb"], max_mb, manifest["source"])
    return manifest


def read_kit(kit: str | Path) -> dict[str, Any]:
    kit = Path(kit)
    manifest_path = kit / "kit.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: make the kit first (`make gpu-kit` where the study ran)")
    return json.loads(manifest_path.read_text())


def upcast_model(kit: str | Path, out: str | Path) -> Path:
    """The kit's half-precision baseline saved as an fp32 checkpoint (every variant starts from fp32)."""
    tokenizer = models.load_tokenizer(str(Path(kit) / "model"))
    model = models.load_classifier(str(Path(kit) / "model")).float()
    models.save_model(model, tokenizer, out, {"source": f"upcast from {kit}/model"})
    return Path(out)


# --------------------------------------------------------------------------- what each piece measures
@dataclass(frozen=True)
class Piece:
    number: int
    description: str
    cells: tuple[Cell, ...]
    settings: str  # "quick": short windows sized to the quick budget; "config": the config's protocol
    variants: tuple[str, ...] = KIT_VARIANTS
    accuracy: bool = False   # evaluate (and build) every variant of the piece on dev first
    isolated: bool = False   # each trial in a fresh process (compiled kernels and sessions never carry over)
    trials: int = 5          # default trial count (``--trials`` overrides)


def _overhead(cell: Cell) -> Cell:
    return Cell(cell.variant, cell.batch_size, cell.padding, cell.mode, sampler=False)


GROUPS = tuple((b, p, m) for b in (1, 8, 64) for p, m in (("fixed", "eager"), ("dynamic", "eager"), ("fixed", "cuda_graph")))


def plan_pieces(variant_names=KIT_VARIANTS) -> list[Piece]:
    """Piece 0, the quick check: every variant at batch 64 (fixed padding), fp32 and fp16 eager and
    CUDA-graph at batch 1, one dynamic-padding cell, the adaptive router's refused graph cell, and the
    harness-overhead repeat at fp32 batch 64 (GPU-bound) and batch 1 (launch-bound), fixed eager; 4
    trials. Pieces 1..9: the paper grid (batch 1/8/64 x fixed-eager, dynamic-eager, fixed-graph) one
    group at a time, every variant with fp32 beside it for pairing. Piece 10: the runtime axis
    (torch.compile, inductor CUDA graphs, ONNX Runtime) beside fp32/fp16 eager, built and evaluated
    first, each trial in its own process."""
    names = list(variant_names)
    quick = [Cell(v, 64, "fixed", "eager") for v in names]
    quick += [Cell(v, 1, "fixed", mode) for v in names if v in ("fp32", "fp16") for mode in ("eager", "cuda_graph")]
    quick += [Cell(v, 1, "fixed", "cuda_graph") for v in names if v == "adaptive"]
    quick += [Cell(BASELINE, 64, "dynamic", "eager"), _overhead(Cell(BASELINE, 64, "fixed", "eager")),
              _overhead(Cell(BASELINE, 1, "fixed", "eager"))]
    pieces = [Piece(0, "quick check (short windows)", tuple(quick), "quick", accuracy=True, trials=4)]
    for i, (b, p, m) in enumerate(GROUPS, start=1):
        cells = [Cell(v, b, p, m) for v in names]
        pieces.append(Piece(i, f"batch {b}, {p} padding, {m}", tuple(cells + [_overhead(cells[0])]), "config"))
    runtime_names = (BASELINE, "fp16", *RUNTIME_CELLS)
    cells = [Cell(v, b, "fixed", "eager") for b in (8, 64) for v in runtime_names]
    pieces.append(Piece(len(pieces), "runtimes: torch.compile (+ CUDA graphs) and ONNX Runtime beside eager, batch 8 "
                        "and 64, fixed padding; builds and accuracy first", tuple(cells + [_overhead(cells[0])]),
                        "quick", variants=runtime_names, accuracy=True, isolated=True, trials=2))
    return pieces


QUICK_ENERGY = {"window_s": {"cpu": 2.0, "cuda": 2.0}, "idle_s": 0.5, "idle_per_trial_s": {"cpu": 5.0, "cuda": 5.0},
                "idle_settle_s": {"cpu": 0.0, "cuda": 1.0}, "warmup": {"min_iters": 5, "max_s": 1.0, "tolerance": 0.05},
                "interleave": False}
TINY_ENERGY = {"window_s": {"cpu": 0.1, "cuda": 0.2}, "idle_s": 0.05, "idle_per_trial_s": {"cpu": 0.1, "cuda": 0.2},
               "idle_settle_s": {"cpu": 0.0, "cuda": 0.0}, "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5},
               "min_iterations": 2, "max_inputs": 32}


def energy_settings(cfg_energy: Mapping[str, Any], piece: Piece, tiny: bool) -> dict[str, Any]:
    out = dict(cfg_energy)
    if piece.settings == "quick":
        out.update(QUICK_ENERGY)
    if tiny:
        out.update(TINY_ENERGY)
    return out


# What the estimate assumes on one H100 node (16 cores): seconds per step, before the first timing
# comes back from a node (then: replace them with what its log shows).
STARTUP_S = 25.0           # python, torch, CUDA context, the kit's upcast checkpoint
EVAL_S = 4.0               # one variant on the 872 dev sentences, prepare included
BUILD_S = {"adaptive": 20.0, "torch_compile": 45.0, "onnxruntime": 30.0}   # per build, by family or runtime
PROCESS_START_S = 20.0     # a spawned trial process: imports, CUDA context, models prepared
COMPILE_CACHED_S = 12.0    # a compiled cell in a trial process, its kernels from the build's cache


def _build_seconds(name: str) -> float:
    from greenbench.core.names import EAGER, split_name

    recipe, runtime = split_name(name)
    if runtime != EAGER:
        return BUILD_S["torch_compile" if runtime.startswith("torch_compile") else runtime]
    return BUILD_S.get(recipe, 0.0)


def estimate_check_seconds(piece: Piece, energy: Mapping[str, Any], device: str, trials: int) -> dict[str, float]:
    """The piece's wall time by parts (``STARTUP_S`` .. ``COMPILE_CACHED_S``): start-up, builds, the
    accuracy pass, the trials (process starts and cached recompiles included for isolated pieces)."""
    measured = [c for c in piece.cells if not (c.mode == "cuda_graph" and (device != "cuda" or c.variant == "adaptive"))]
    per_trial = estimate_trial_seconds(len(measured), energy, device)
    if piece.isolated:
        per_trial += PROCESS_START_S + COMPILE_CACHED_S * sum(1 for v in piece.variants if "@torch_compile" in v)
    parts = {"startup_s": STARTUP_S,
             "builds_s": sum(_build_seconds(v) for v in piece.variants) if piece.accuracy or piece.isolated else 0.0,
             "accuracy_s": EVAL_S * len(piece.variants) if piece.accuracy else 0.0,
             "per_trial_s": per_trial, "trials": float(trials), "trials_s": per_trial * trials}
    parts["total_s"] = parts["startup_s"] + parts["builds_s"] + parts["accuracy_s"] + parts["trials_s"]
    return {k: round(v, 1) for k, v in parts.items()}


# --------------------------------------------------------------------------- the check
def default_out(device: str) -> Path:
    """benchmarks/results/<gpu>-<date> (e.g. nvidia-h100-80gb-hbm3-2026-11-24)."""
    name = "cpu-rehearsal"
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name(0)
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return Path("benchmarks/results") / f"{slug}-{date.today().isoformat()}"


ARCHIVE = "gpu-check.tar.gz"


def write_archive(out: str | Path) -> Path:
    """Everything under ``out`` (but the archive itself) in one ``gpu-check.tar.gz``, written atomically."""
    import tarfile

    out = Path(out)
    with io.atomic_file(out / ARCHIVE, ".tar.gz") as tmp:
        with tarfile.open(tmp, "w:gz") as tar:
            for path in sorted(out.rglob("*")):
                if path.is_file() and path.name != ARCHIVE and not path.name.startswith("."):
                    tar.add(path, arcname=str(Path(out.name) / path.relative_to(out)))
    return out / ARCHIVE


def run_check(kit: str | Path, out: str | Path, cfg: Mapping[str, Any], *, device: str = "cuda", piece: int = 0,
              trials: int | None = None, tiny: bool = False, budget_s: float = 570.0,
              validated: str = "") -> str:
    """Run one piece of the check straight into ``out`` (at most one folder below it: ``eval/``,
    ``energy/``; plus ``summary.md``, ``log.txt`` and ``gpu-check.tar.gz`` of everything). The summary
    and the archive are rewritten after the accuracy pass and after every trial, so a command killed
    at its limit still leaves what it finished. Scratch (the upcast checkpoint, builds) lives in the
    system's temporary folder and is removed at the end. Returns the summary text."""
    import tempfile

    started = time.perf_counter()
    kit, out = Path(kit), Path(out)
    manifest = read_kit(kit)
    pieces = plan_pieces()
    if not 0 <= piece < len(pieces):
        raise ValueError(f"piece {piece} does not exist (0..{len(pieces) - 1}; see --list-pieces)")
    plan = pieces[piece]
    model_name = manifest["model"]
    out.mkdir(parents=True, exist_ok=True)
    configure(out / "log.txt")
    work = Path(tempfile.mkdtemp(prefix="greenbench-gpucheck-"))
    try:
        return _run(kit, out, work, cfg, manifest, plan, model_name, device, trials, tiny, budget_s, validated,
                    started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(kit, out, work, cfg, manifest, plan, model_name, device, trials, tiny, budget_s, validated, started) -> str:
    baseline = upcast_model(kit, work / "baseline")
    seed, threads = int(cfg["seed"]), cfg["compute"]["threads"]
    tokens = {split: kit / "tokens" / f"{split}.parquet" for split in ("train", "dev")}
    energy = energy_settings(cfg["energy"], plan, tiny)
    n_trials = int(trials if trials is not None else plan.trials)
    estimate = estimate_check_seconds(plan, energy, device, n_trials)
    context = {"kit": manifest, "piece": {"number": plan.number, "description": plan.description},
               "device": device, "tiny": tiny, "config": validated, "host": platform.node(), "estimate": estimate,
               "stage": "accuracy", "overhead_cells": sum(1 for c in plan.cells if not c.sampler)}
    failures: list[str] = []
    context["failures"] = failures
    log.info("piece %d (%s): %d cells x %d trials; estimated %s s in all (%s)", plan.number, plan.description,
             len(plan.cells), n_trials, estimate["total_s"], ", ".join(f"{k} {v}" for k, v in estimate.items()))
    names = plan.variants
    if plan.accuracy:
        artifacts = _accuracy(baseline, tokens, out, work, cfg, device, model_name, tiny, failures, names)
    else:
        artifacts = _build_artifacts(baseline, tokens, work, cfg, device, tiny, failures, names)
    context["stage"] = "energy trials"
    _checkpoint(out, context, started)
    cells = plan.cells
    if tiny:  # the rehearsal's few inputs cannot fill a fixed batch of 64
        cells = tuple(dict.fromkeys(replace(c, batch_size=min(c.batch_size, 8)) for c in cells))
    per_trial = estimate["per_trial_s"]
    trial_files: list[Path] = []
    skipped = []
    from greenbench.measure.energy.protocol import combine_trials, run_trial

    params = {v: _variant_params(cfg, v, tiny) for v in names}
    for trial in range(n_trials):
        if time.perf_counter() - started + per_trial > budget_s:
            skipped.append(trial)
            continue
        path = out / "energy" / f"trial-{trial}.parquet"
        kwargs = dict(model_name=model_name, device=device, variant_names=list(names), artifacts=artifacts,
                      variant_params=params, trial=trial, seed=seed, cfg=energy, max_length=int(manifest["max_length"]),
                      threads=threads, cells=list(cells))
        try:
            if plan.isolated:
                _isolated(run_trial, baseline, tokens["dev"], path, log_file=out / "log.txt", **kwargs)
            else:
                run_trial(baseline, tokens["dev"], path, **kwargs)
        except Exception as exc:
            log.exception("trial %d failed", trial)
            failures.append(f"trial {trial}: {type(exc).__name__}: {exc}")
            continue
        trial_files.append(path)
        combine_trials(trial_files, out / "energy" / "measurements.parquet")
        context.update(trials_done=len(trial_files), trials_skipped_for_budget=skipped)
        _checkpoint(out, context, started)
    context.update(trials_done=len(trial_files), trials_skipped_for_budget=skipped, stage="finished")
    return _checkpoint(out, context, started)


def _checkpoint(out: Path, context: dict[str, Any], started: float) -> str:
    """The summary and the archive as they stand (a killed command keeps them)."""
    context["elapsed_s"] = round(time.perf_counter() - started, 1)
    text = write_summary(out, context)
    write_archive(out)
    return text


def _spawned(function, log_file, args, kwargs) -> None:
    """A spawned process's entry: the node's environment and logging (to stderr and the check's log), then ``function``."""
    node_environment()
    configure(log_file)
    function(*args, **kwargs)


def _isolated(function, *args, log_file: str | Path | None = None, **kwargs) -> None:
    """``function(*args, **kwargs)`` in a fresh (spawned) process that logs like this one; raise if it
    does not end cleanly."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=_spawned, args=(function, log_file, args, kwargs))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the trial's process ended with exit code {process.exitcode}")


def _variant_params(cfg, name: str, tiny: bool) -> dict[str, Any]:
    from greenbench.pipeline.wiring import variant_params

    params = variant_params(cfg, name)
    if tiny and name == "adaptive":
        params["calibration_size"] = 64
        params["calibration_min_tokens"] = 1
    if tiny and "mode" in params.get("runtime", {}):
        params["runtime"]["mode"] = "default"  # the rehearsal checks the path, not autotuned speed
    return params


def _build_artifacts(baseline: Path, tokens, work: Path, cfg, device: str, tiny: bool,
                     failures: list[str], names=KIT_VARIANTS) -> dict[str, Path]:
    """Artifacts of the kit's variants that have a build step (the adaptive router's calibration,
    runtime builds), in the scratch folder ``work``."""
    from greenbench.cells import variants
    from greenbench.pipeline.wiring import build_finetune

    artifacts = {}
    for name in names:
        recipe = variants.get(name)
        if recipe.build is None or recipe.applicability(device) is not None:
            continue
        target = work / "variants" / name
        finetune = build_finetune(cfg, name) | ({"train_subset": 0} if tiny else {})
        try:
            recipe.build(baseline, tokens["train"], target, device, _variant_params(cfg, name, tiny),
                         int(cfg["seed"]), finetune)
            artifacts[name] = target
        except Exception as exc:  # its cells become "could not prepare" rows; the rest goes on
            log.exception("build %s on %s failed", name, device)
            failures.append(f"build {name}: {type(exc).__name__}: {exc}")
    return artifacts


def _accuracy(baseline: Path, tokens, out: Path, work: Path, cfg, device: str, model_name: str,
              tiny: bool, failures: list[str], names=KIT_VARIANTS) -> dict[str, Path]:
    from greenbench.measure.accuracy import evaluate, summarize

    artifacts = _build_artifacts(baseline, tokens, work, cfg, device, tiny, failures, names)
    files = []
    for name in names:
        path = out / "eval" / f"{safe_name(name)}.parquet"
        try:
            evaluate(baseline, tokens["dev"], name, device, path, batch_size=int(cfg["evaluate"]["batch_size"]),
                     dev_subset=64 if tiny else 0, seed=int(cfg["seed"]), threads=cfg["compute"]["threads"],
                     model_name=model_name, artifact=artifacts.get(name),
                     variant_params=_variant_params(cfg, name, tiny))
            files.append(path)
        except Exception as exc:  # one broken path must not cost the allocation the others' results
            log.exception("evaluate %s on %s failed", name, device)
            failures.append(f"evaluate {name}: {type(exc).__name__}: {exc}")
    if files:
        summarize(files, out / "eval" / "summary.parquet")
    return artifacts


# --------------------------------------------------------------------------- the summary
def _fmt(value, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, spec)


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def accuracy_section(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    base = summary.loc[(summary.variant == BASELINE) & (summary.status == "ok"), "accuracy"]
    base_acc = float(base.iloc[0]) if len(base) else float("nan")
    rows, deltas = [], {}
    for r in summary.itertuples(index=False):
        delta = (r.accuracy - base_acc) * 100 if r.status == "ok" else float("nan")
        deltas[r.variant] = delta
        rows.append({"variant": r.variant, "status": r.status, "accuracy": _fmt(r.accuracy, ".4f"),
                     "Δ vs fp32 (points)": _fmt(delta, "+.2f"), "examples": r.examples,
                     "linear weight MB": _fmt((r.linear_weight_bytes or 0) / 2**20, ".2f") if r.status == "ok" else "–",
                     "reason": r.reason})
    return pd.DataFrame(rows), deltas


INT4_KEYS = {"int4_layout": "layout", "int4_kernel": "kernel", "int4_k_padding": "K padded (in_features)",
             "int4_mac_padding_factor": "multiply-adds done / needed", "int4_weight_bytes_unpadded": "weight bytes (unpadded)",
             "int4_weight_bytes_padded": "weight bytes as packed"}


def int4_layouts(summary: pd.DataFrame) -> pd.DataFrame:
    """What the int4 cells ran: layout, K padding, kernel and the storage with and without the padding
    (from the variant's own record of its quantized layers)."""
    rows = []
    for r in summary.itertuples(index=False):
        info = json.loads(r.variant_info or "{}")
        if any(key in info for key in INT4_KEYS):
            rows.append({"variant": r.variant, **{label: info.get(key, "–") for key, label in INT4_KEYS.items()}})
    return pd.DataFrame(rows)


def cell_table(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per cell over trials: median counter-vs-integrated disagreement, CV of net J/inference,
    mean J/inference and p50 latency, the flags seen."""
    ok = measurements[measurements.status == "ok"]
    rows = []
    keys = ["variant", "batch_size", "padding", "mode", "sampler"]
    for key, g in ok.groupby(keys, sort=True):
        net = g.j_per_inf_net.dropna().to_numpy(float)
        rows.append(dict(zip(keys, key), trials=len(g),
                         disagreement_median=float(g.counter_vs_integrated.median()) if g.counter_vs_integrated.notna().any() else np.nan,
                         cv_net=float(np.std(net, ddof=1) / np.mean(net)) if len(net) > 1 and np.mean(net) > 0 else np.nan,
                         j_net=float(np.mean(net)) if len(net) else np.nan,
                         j_gross=float(g.j_per_inf_gross.mean()) if g.j_per_inf_gross.notna().any() else np.nan,
                         p50_ms=float(g.latency_p50_ms.mean()), label="+".join(sorted(set(g.energy_label.dropna()))),
                         power_field="+".join(sorted(set(g.power_field.dropna()))) or "–",
                         state_during=bool(g.state_during_window.fillna(False).astype(bool).all()),
                         flags="; ".join(sorted({f for fl in g["flags"].dropna() for f in fl.split("; ") if f}))[:160]))
    return pd.DataFrame(rows)


def overhead_ratios(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per overhead cell (the same cell with the sampler off): energy and throughput, sampler on / off,
    paired by trial and averaged."""
    keys = ["variant", "batch_size", "padding", "mode"]
    if measurements.empty:
        return pd.DataFrame(columns=keys + ["trials", "energy", "throughput"])
    ok = measurements[(measurements.status == "ok")]
    rows = []
    off_cells = ok[~ok.sampler.astype(bool)]
    for key, off in off_cells.groupby(keys, sort=True):
        on = ok[ok.sampler.astype(bool)]
        for k, v in zip(keys, key):
            on = on[on[k] == v]
        pairs = on.merge(off, on="trial", suffixes=("_on", "_off"))
        if pairs.empty:
            continue
        rows.append(dict(zip(keys, key), trials=len(pairs),
                         energy=float((pairs.j_per_inf_gross_on / pairs.j_per_inf_gross_off).mean()),
                         throughput=float((pairs.throughput_per_s_on / pairs.throughput_per_s_off).mean())))
    return pd.DataFrame(rows, columns=keys + ["trials", "energy", "throughput"])


def graph_vs_eager(cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if cells.empty:
        return pd.DataFrame(rows)
    b1 = cells[(cells.batch_size == 1) & (cells.padding == "fixed") & cells.sampler]
    for variant, g in b1.groupby("variant"):
        eager, graph = g[g["mode"] == "eager"], g[g["mode"] == "cuda_graph"]
        if eager.empty or graph.empty:
            continue
        rows.append({"variant": variant, "eager p50 ms": _fmt(eager.p50_ms.iloc[0]), "graph p50 ms": _fmt(graph.p50_ms.iloc[0]),
                     "speed-up": round(float(eager.p50_ms.iloc[0] / graph.p50_ms.iloc[0]), 2),
                     "J/inf eager": _fmt(eager.j_gross.iloc[0]), "J/inf graph": _fmt(graph.j_gross.iloc[0])})
    return pd.DataFrame(rows)


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "MISSED")


def criteria(cells: pd.DataFrame, deltas: Mapping[str, float], overheads: pd.DataFrame, graphs: pd.DataFrame,
             expected_overhead_cells: int = 2) -> pd.DataFrame:
    """The acceptance criteria with value and verdict. Harness overhead: the worst of the overhead
    cells (met only when all ``expected_overhead_cells`` were measured and each is within 1%)."""
    ratios = overheads.energy.dropna() if not overheads.empty else pd.Series(dtype=float)
    worst = float((ratios - 1).abs().max()) if len(ratios) else float("nan")
    overhead_verdict = None
    if len(ratios):
        overhead_verdict = bool(worst <= MAX_OVERHEAD) and len(ratios) >= expected_overhead_cells
    measured = cells[cells.sampler] if not cells.empty else cells
    dis = measured.disagreement_median.dropna() if not measured.empty else pd.Series(dtype=float)
    cv = measured[measured.batch_size >= 8].cv_net.dropna() if not measured.empty else pd.Series(dtype=float)
    half = [abs(deltas[v]) for v in ("fp16", "bf16") if v in deltas and np.isfinite(deltas[v])]
    speed = graphs.loc[graphs.variant == BASELINE, "speed-up"] if not graphs.empty else pd.Series(dtype=float)
    rows = [
        ("median counter-vs-integrated disagreement ≤ 3%", _fmt(dis.median() if len(dis) else None, ".2%"),
         _verdict(bool(dis.median() <= MAX_DISAGREEMENT) if len(dis) else None)),
        ("CV of net J/inference ≤ 2% at batch ≥ 8 (worst cell)", _fmt(cv.max() if len(cv) else None, ".2%"),
         _verdict(bool(cv.max() <= MAX_CV_BATCH8) if len(cv) else None)),
        (f"harness overhead ≤ 1% of energy at each overhead cell (worst of {len(ratios)})",
         _fmt(worst if np.isfinite(worst) else None, ".2%"), _verdict(overhead_verdict)),
        ("fp16 and bf16 within 0.3 points of fp32", _fmt(max(half) if half else None, ".2f"),
         _verdict(bool(max(half) <= MAX_HALF_DELTA_PTS) if len(half) == 2 else None)),
        ("CUDA-graph replay ≥ 5× faster than eager at batch 1 (fp32)", _fmt(speed.iloc[0] if len(speed) else None, ".2f"),
         _verdict(bool(speed.iloc[0] >= MIN_GRAPH_SPEEDUP) if len(speed) else None)),
    ]
    return pd.DataFrame(rows, columns=["criterion", "value", "verdict"])


def refused_cells(measurements: pd.DataFrame) -> pd.DataFrame:
    bad = measurements[measurements.status != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=["variant", "cells", "status", "reason"])
    return (bad.groupby(["variant", "status", "reason"]).size().reset_index(name="cells")
            [["variant", "cells", "status", "reason"]])


def write_summary(out: str | Path, context: Mapping[str, Any]) -> str:
    out = Path(out)
    kit = context["kit"]
    lines = [f"# GPU check — piece {context['piece']['number']}: {context['piece']['description']}", ""]
    meas_path = out / "energy" / "measurements.parquet"
    measurements = io.read_parquet(meas_path) if meas_path.exists() else pd.DataFrame()
    meta = io.read_metadata(meas_path)["provenance"][0] if meas_path.exists() else {}
    versions = provenance.versions()
    lines += [
        "## Provenance", "",
        f"- device: {meta.get('device_name') or context['device']} (uuid {meta.get('device_uuid', '–')}), "
        f"driver {meta.get('driver', '–')}, CUDA {meta.get('cuda', '–')}, host {context.get('host', '–')}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- greenbench commit {provenance.git_commit()} (kit made from {kit.get('git_commit', '–')} on {kit.get('created', '–')})",
        f"- model: {kit['source']}; on CPU the rounding changed {kit.get('cpu_predictions_changed_by_rounding', '–')} of "
        f"{kit.get('dev_examples', '–')} dev predictions (fp32 original {_fmt(kit.get('cpu_accuracy_fp32_original'), '.4f')})",
        f"- config: {context.get('config') or 'validated'}; trials done {context.get('trials_done', 0)}"
        + (f", skipped to stay in budget: {context['trials_skipped_for_budget']}" if context.get("trials_skipped_for_budget") else "")
        + (" (tiny rehearsal sizes)" if context.get("tiny") else ""),
        f"- progress: {context.get('stage', '–')}; {context.get('elapsed_s', '–')} s elapsed of an estimated "
        f"{(context.get('estimate') or {}).get('total_s', '–')} s ({', '.join(f'{k} {v}' for k, v in (context.get('estimate') or {}).items())})",
        "- serving mode: closed loop (one batch in flight, host sync per iteration); state (clocks, temperature, "
        "throttle reasons) read during each window by the sampler", "",
    ]
    deltas: dict[str, float] = {}
    summary_path = out / "eval" / "summary.parquet"
    if summary_path.exists():
        eval_summary = io.read_parquet(summary_path)
        acc, deltas = accuracy_section(eval_summary)
        lines += ["## Accuracy on SST-2 dev", "", _table(acc)]
        layouts = int4_layouts(eval_summary)
        if not layouts.empty:
            lines += ["### int4 weight-only: layout, padding, kernel", "", _table(layouts)]
    cells = cell_table(measurements) if not measurements.empty else pd.DataFrame()
    overheads = overhead_ratios(measurements)
    graphs = graph_vs_eager(cells)
    expected = int(context.get("overhead_cells") or 1)
    lines += ["## Acceptance criteria", "", _table(criteria(cells, deltas, overheads, graphs, expected))]
    if not cells.empty:
        shown = cells.assign(**{c: cells[c].map(lambda v: _fmt(v, ".3g")) for c in ("disagreement_median", "cv_net",
                                                                                   "j_net", "j_gross", "p50_ms")})
        lines += ["## Cells (means over trials)", "", _table(shown)]
    shown_overheads = overheads.assign(energy=overheads.energy.map(lambda v: _fmt(v, ".4f")),
                                       throughput=overheads.throughput.map(lambda v: _fmt(v, ".4f")))
    lines += ["## Harness overhead (sampler on / off, paired by trial)", "", _table(shown_overheads),
              "## CUDA graph vs eager at batch 1", "", _table(graphs),
              "## Failures (a step that raised; everything else went on)", "",
              "\n".join(f"- {f}" for f in context.get("failures") or []) or "(none)", "",
              "## Invalid and not-applicable cells", "",
              _table(refused_cells(measurements)) if not measurements.empty else "(no trial yet)\n"]
    text = "\n".join(lines)
    io.write_text(text, out / "summary.md")
    return text
