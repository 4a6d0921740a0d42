"""Running the check on the node: accuracy, then energy trials in spawned processes, with the summary
and archive rewritten after every step."""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Mapping


from greenbench.core import io
from greenbench.core.log import configure, get_logger
from greenbench.tools.gpukit.kit import KIT_VARIANTS, node_environment, read_kit, safe_name, upcast_model
from greenbench.tools.gpukit.pieces import energy_settings, estimate_check_seconds, plan_pieces
from greenbench.tools.gpukit.summary import write_summary

log = get_logger(__name__)


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


def run_check(
    kit: str | Path,
    out: str | Path,
    cfg: Mapping[str, Any],
    *,
    device: str = "cuda",
    piece: int = 0,
    trials: int | None = None,
    tiny: bool = False,
    budget_s: float = 570.0,
    validated: str = "",
) -> str:
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
        return _run(kit, out, work, cfg, manifest, plan, model_name, device, trials, tiny, budget_s, validated, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(kit, out, work, cfg, manifest, plan, model_name, device, trials, tiny, budget_s, validated, started) -> str:
    baseline = upcast_model(kit, work / "baseline")
    seed, threads = int(cfg["seed"]), cfg["compute"]["threads"]
    tokens = {split: kit / "tokens" / f"{split}.parquet" for split in ("train", "dev")}
    energy = energy_settings(cfg["energy"], plan, tiny)
    n_trials = int(trials if trials is not None else plan.trials)
    estimate = estimate_check_seconds(plan, energy, device, n_trials)
    context = {
        "kit": manifest,
        "piece": {"number": plan.number, "description": plan.description},
        "device": device,
        "tiny": tiny,
        "config": validated,
        "host": platform.node(),
        "estimate": estimate,
        "stage": "accuracy",
        "overhead_cells": sum(1 for c in plan.cells if not c.sampler),
    }
    failures: list[str] = []
    context["failures"] = failures
    log.info(
        "piece %d (%s): %d cells x %d trials; estimated %s s in all (%s)",
        plan.number,
        plan.description,
        len(plan.cells),
        n_trials,
        estimate["total_s"],
        ", ".join(f"{k} {v}" for k, v in estimate.items()),
    )
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
    from greenbench.measure.energy.trial import combine_trials, run_trial

    params = {v: _variant_params(cfg, v, tiny) for v in names}
    for trial in range(n_trials):
        if time.perf_counter() - started + per_trial > budget_s:
            skipped.append(trial)
            continue
        path = out / "energy" / f"trial-{trial}.parquet"
        kwargs = dict(
            model_name=model_name,
            device=device,
            variant_names=list(names),
            artifacts=artifacts,
            variant_params=params,
            trial=trial,
            seed=seed,
            cfg=energy,
            max_length=int(manifest["max_length"]),
            threads=threads,
            cells=list(cells),
        )
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


def _build_artifacts(
    baseline: Path, tokens, work: Path, cfg, device: str, tiny: bool, failures: list[str], names=KIT_VARIANTS
) -> dict[str, Path]:
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
            recipe.build(
                baseline, tokens["train"], target, device, _variant_params(cfg, name, tiny), int(cfg["seed"]), finetune
            )
            artifacts[name] = target
        except Exception as exc:  # its cells become "could not prepare" rows; the rest goes on
            log.exception("build %s on %s failed", name, device)
            failures.append(f"build {name}: {type(exc).__name__}: {exc}")
    return artifacts


def _accuracy(
    baseline: Path,
    tokens,
    out: Path,
    work: Path,
    cfg,
    device: str,
    model_name: str,
    tiny: bool,
    failures: list[str],
    names=KIT_VARIANTS,
) -> dict[str, Path]:
    from greenbench.measure.accuracy import evaluate, summarize

    artifacts = _build_artifacts(baseline, tokens, work, cfg, device, tiny, failures, names)
    files = []
    for name in names:
        path = out / "eval" / f"{safe_name(name)}.parquet"
        try:
            evaluate(
                baseline,
                tokens["dev"],
                name,
                device,
                path,
                batch_size=int(cfg["evaluate"]["batch_size"]),
                dev_subset=64 if tiny else 0,
                seed=int(cfg["seed"]),
                threads=cfg["compute"]["threads"],
                model_name=model_name,
                artifact=artifacts.get(name),
                variant_params=_variant_params(cfg, name, tiny),
            )
            files.append(path)
        except Exception as exc:  # one broken path must not cost the allocation the others' results
            log.exception("evaluate %s on %s failed", name, device)
            failures.append(f"evaluate {name}: {type(exc).__name__}: {exc}")
    if files:
        summarize(files, out / "eval" / "summary.parquet")
    return artifacts
