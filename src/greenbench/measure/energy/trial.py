"""One trial: every cell of one model on one device, in the trial's seeded random order, each in its
own window (``greenbench.measure.energy.window``) or interleaved with the others of its padding
(``greenbench.measure.energy.interleaved``); cells that cannot run get a row with the reason. Also the
measurements' schema, the trial's time estimate, and the collection of trials into one table."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.data import sst2 as data, models
from greenbench.core import io, provenance
from greenbench.cells import variants
from greenbench.measure.energy.batches import make_batches
from greenbench.measure.energy.cells import Cell, paddings_for, plan_cells, shuffle_cells
from greenbench.measure.energy.interleaved import interleaves, measure_group
from greenbench.measure.energy.meters.base import UNAVAILABLE
from greenbench.measure.energy.monitor import EnergyMonitor
from greenbench.measure.energy.window import device_sync, measure_cell
from greenbench.core.log import get_logger
from greenbench.core.names import with_runtime

log = get_logger(__name__)

F64, I64, STR, BOOL = pa.float64(), pa.int64(), pa.string(), pa.bool_()
MEASUREMENT_SCHEMA = pa.schema(
    [
        ("trial", I64),
        ("cell_order", I64),
        ("model", STR),
        ("variant", STR),
        ("device", STR),
        ("recipe", STR),
        ("runtime", STR),  # the variant name split: <recipe>@<runtime> (eager when no @)
        ("batch_size", I64),
        ("padding", STR),
        ("mode", STR),
        ("sampler", BOOL),
        ("status", STR),
        ("reason", STR),
        ("valid", BOOL),
        ("flags", STR),
        ("inferences", I64),
        ("iterations", I64),
        ("window_s", F64),
        ("warmup_iterations", I64),
        ("latency_p50_ms", F64),
        ("latency_p95_ms", F64),
        ("latency_p99_ms", F64),
        ("throughput_per_s", F64),
        ("energy_source", STR),
        ("energy_label", STR),
        ("j_per_inf_gross", F64),
        ("j_per_inf_idle", F64),
        ("j_per_inf_net", F64),
        ("idle_power_w", F64),
        ("integrated_label", STR),
        ("j_per_inf_gross_integrated", F64),
        ("counter_vs_integrated", F64),
        ("sampler_hz", F64),
        ("co2e_g_per_inf_estimated", F64),
        ("peak_memory_bytes", I64),
        ("size_bytes", I64),
        ("power_limit_w", F64),
        ("sm_clock_mhz", F64),
        ("mem_clock_mhz", F64),
        ("temperature_c", F64),
        ("throttle_reasons", I64),
        ("device_name", STR),
        # state above: summarised from snapshots taken during the window (True) or read right after it (False)
        ("state_during_window", BOOL),
        ("power_field", STR),  # the power reading the sampler integrated: instant | average (NVML) | empty
        # dynamic padding: the window's seconds and inferences per token-length bin (JSON), for J by length
        ("length_profile", STR),
    ]
)


def idle_per_trial(cfg: Mapping[str, Any], device: str) -> float:
    """Seconds of the trial's one idle reading on ``device`` (``energy.idle_per_trial_s``), 0 when
    cells take idle windows of their own (and always for interleaved CPU windows, which have theirs)."""
    if interleaves(cfg, device):
        return 0.0
    return float((cfg.get("idle_per_trial_s") or {}).get(device, 0.0) or 0.0)


def estimate_trial_seconds(measured_cells: int, cfg: Mapping[str, Any], device: str) -> float:
    """Rough wall time of one trial, said before it starts: per measured cell, warm-up (at most 0.5 s
    assumed), two settled idle windows (or none: ``idle_per_trial``, one per trial) and the window,
    plus a few seconds to prepare. Interleaved (CPU): per padding its idle windows, per cell its
    window and warm-up rounds (the cells share one window, whose median cell fills ``window_s``;
    slower cells take longer)."""
    settle = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
    idle_windows = 1 if shares_idle(cfg, device) else 2
    trial_idle = idle_per_trial(cfg, device)
    if trial_idle:
        per_cell = min(float(cfg["warmup"]["max_s"]), 0.5) + float(cfg["window_s"][device]) + 0.3
        return 5.0 + settle + trial_idle + 0.2 + per_cell * measured_cells
    if interleaves(cfg, device):  # per padding: warm-up rounds, idle windows; per cell: its share of the window
        groups = len(paddings_for(cfg, device))
        per_group = idle_windows * (float(cfg["idle_s"]) + settle) + 1.0
        return 15.0 + groups * per_group + measured_cells * (1.5 * float(cfg["window_s"][device]) + 0.3)
    per_cell = (
        min(float(cfg["warmup"]["max_s"]), 0.5)
        + float(cfg["window_s"][device])
        + idle_windows * (float(cfg["idle_s"]) + settle)
        + 0.3
    )
    return 5.0 + per_cell * measured_cells


def shares_idle(cfg: Mapping[str, Any], device: str) -> bool:
    return bool((cfg.get("share_idle") or {}).get(device, False))


def refusal(cell: Cell, device: str, prepared) -> str | None:
    """Why a prepared variant's cell cannot be measured here (decided before any work), or None."""
    if cell.mode == "cuda_graph":
        if device != "cuda":
            return "CUDA graphs need a CUDA device"
        if cell.padding != "fixed":
            return "CUDA graph replay needs one input shape: fixed padding only"
        if not getattr(prepared, "graph_safe", True):
            return f"variant '{cell.variant}' cannot be captured in a CUDA graph (data-dependent control flow)"
    return None


def not_applicable(cell: Cell, reason: str) -> dict[str, Any]:
    return {"status": "not_applicable", "reason": reason, "valid": True, "flags": "", "energy_label": UNAVAILABLE}


def combine_trials(files: list[str | Path], out: str | Path) -> pd.DataFrame:
    """All trials of all devices and models in one table (fixed row order)."""
    frames = [io.read_parquet(f) for f in files]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MEASUREMENT_SCHEMA.names)
    df = df.sort_values(["device", "model", "trial", "cell_order"]).reset_index(drop=True)
    io.write_parquet(
        df,
        out,
        MEASUREMENT_SCHEMA,
        {"files": [str(f) for f in files], "provenance": [io.read_metadata(f) for f in files]},
    )
    return df


def run_trial(
    model_dir: str | Path,
    dev_tokens: str | Path,
    out: str | Path,
    *,
    model_name: str,
    device: str,
    variant_names: list[str],
    artifacts: Mapping[str, str | Path],
    variant_params: Mapping[str, Mapping[str, Any]],  # per variant name, as wiring.variant_params gives them
    trial: int,
    seed: int,
    cfg: Mapping[str, Any],
    max_length: int,
    threads: int | None = None,
    monitor: EnergyMonitor | None = None,
    cells: list[Cell] | None = None,
) -> pd.DataFrame:
    """Measure every cell of one trial and write one Parquet file (atomically, at the end).

    The cells are the full grid of ``cfg`` (batch sizes x paddings x modes, plus the overhead
    cell) unless ``cells`` names them; either way they run in the trial's seeded random order."""
    import torch
    from tqdm.auto import tqdm

    from greenbench.measure.accuracy import prepared_footprint

    models.prepare_runtime(seed + trial, threads, deterministic=False)
    tokens = data.subset(io.read_parquet(dev_tokens), int(cfg["max_inputs"]), seed)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    monitor = monitor or EnergyMonitor.for_device(
        device, float(cfg["sampler_hz"]), codecarbon_country=cfg["codecarbon_country"]
    )
    monitor_off = monitor.without_sampler()
    prepared, reasons, sizes = {}, {}, {}
    for name in variant_names:
        reason = variants.get(name).applicability(device)
        if reason is None:
            try:
                prepared[name] = variants.get(name).prepare(
                    models.load_classifier(str(model_dir)), device, artifacts.get(name), variant_params.get(name) or {}
                )
                sizes[name] = prepared_footprint(prepared[name])["size_bytes"]
            except variants.NotApplicable as exc:  # decided when the runtime artifact was built
                reason = str(exc)
            except Exception as exc:
                reason = f"could not prepare: {type(exc).__name__}: {exc}"
        if reason:
            reasons[name] = reason
    batches_cache: dict[tuple[int, str], list] = {}
    if cells is None:
        cells = plan_cells(
            variant_names,
            cfg["batch_sizes"],
            paddings_for(cfg, device),
            cfg["modes"],
            bool(cfg["overhead_check"]),
            seed,
            trial,
        )
    else:
        cells = shuffle_cells(list(cells), seed, trial)
    rows = []
    share_idle, last_idle = shares_idle(cfg, device), None
    started = time.perf_counter()
    to_measure = sum(1 for c in cells if c.variant not in reasons and not refusal(c, device, prepared[c.variant]))
    log.info(
        "trial %d on %s: %d cells, %d to measure, about %.0f s (estimate)",
        trial,
        device,
        len(cells),
        to_measure,
        estimate_trial_seconds(to_measure, cfg, device),
    )
    trial_idle = None
    per_trial_idle_s = idle_per_trial(cfg, device)
    if per_trial_idle_s and to_measure:  # one idle reading, every model loaded, before the first cell
        device_sync(device)()
        watts, why, info = monitor.idle_power(
            per_trial_idle_s, settle_s=float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        )
        trial_idle = (watts, why)
        log.info(
            "trial %d idle: %s over %.2f s (%s)",
            trial,
            f"{watts:.2f} W" if watts is not None else why,
            float(info.get("seconds") or 0.0),
            "aligned to the counter's updates" if info.get("aligned") else "one window",
        )

    def batches_for(cell: Cell) -> list:
        key = (cell.batch_size, cell.padding)
        if key not in batches_cache:
            batches_cache[key] = make_batches(
                tokens, cell.batch_size, cell.padding, max_length, pad_id, device, seed
            )  # every trial the same batches: trials differ by noise alone
        return batches_cache[key]

    def base(order: int, cell: Cell) -> dict[str, Any]:
        return {"trial": trial, "cell_order": order, "model": model_name, "device": device, **asdict(cell)}

    bar = tqdm(total=len(cells), desc=f"trial {trial} ({device})", unit="cell")
    groups: dict[tuple, list[tuple[int, Cell]]] = {}
    for order, cell in enumerate(cells):
        reason = reasons.get(cell.variant) or refusal(cell, device, prepared[cell.variant])
        if not reason and not batches_for(cell):
            reason = f"fewer than {cell.batch_size} inputs for a full fixed-padding batch"
        if reason:
            rows.append(base(order, cell) | not_applicable(cell, reason))
            _progress(rows[-1], len(cells), started)
            bar.update()
        elif interleaves(cfg, device):  # one window per padding and mode, in the order the shuffle first names it
            groups.setdefault((cell.padding, cell.mode), []).append((order, cell))
        else:
            try:
                row = measure_cell(
                    prepared[cell.variant],
                    cell,
                    batches_for(cell),
                    device,
                    cfg,
                    monitor if cell.sampler else monitor_off,
                    idle_before=last_idle if cell.sampler else None,
                    trial_idle=trial_idle,
                )
            except Exception as exc:  # e.g. CUDA graph capture of a data-dependent router
                log.warning("cell %s failed: %s", cell, exc)
                row = _failed(exc)
            idle_after = row.pop("_idle_after", None)
            # the next cell may take this idle window as its own idle-before only when nothing ran since
            last_idle = idle_after if share_idle and cell.sampler else None
            rows.append(base(order, cell) | row | {"size_bytes": sizes.get(cell.variant)})
            _progress(rows[-1], len(cells), started)
            bar.update()
    for number, (key, members) in enumerate(groups.items()):
        log.info("%s padding, %s: %d cells in one interleaved window", *key, len(members))
        arms = [(cell, prepared[cell.variant]) for _, cell in members]
        try:
            measured, idle_after = measure_group(
                arms,
                {c.batch_size: batches_for(c) for _, c in members},
                device,
                cfg,
                monitor,
                np.random.default_rng([seed, trial, number]),
                idle_before=last_idle,
            )
        except Exception as exc:
            log.warning("interleaved window %s failed: %s", key, exc)
            measured, idle_after = [_failed(exc) for _ in members], None
        last_idle = idle_after if share_idle else None
        for (order, cell), row in zip(members, measured):
            rows.append(base(order, cell) | row | {"size_bytes": sizes.get(cell.variant)})
            _progress(rows[-1], len(cells), started)
        bar.update(len(members))
    bar.close()
    df = with_runtime(pd.DataFrame(rows)) if rows else pd.DataFrame(columns=MEASUREMENT_SCHEMA.names)
    for name in MEASUREMENT_SCHEMA.names:
        if name not in df.columns:
            df[name] = None
    df = df[MEASUREMENT_SCHEMA.names].sort_values("cell_order").reset_index(drop=True)
    df["device_name"] = _cpu_name() if device == "cpu" else monitor.identity.get("device_name")
    meta = provenance.collect(
        cfg,
        trial=trial,
        device=device,
        model=model_name,
        **monitor.identity,
        cuda=getattr(torch.version, "cuda", None),
        threads=torch.get_num_threads(),
    )
    io.write_parquet(df, out, MEASUREMENT_SCHEMA, meta)
    ok = df[df.status == "ok"]
    log.info(
        "trial %d on %s: %d cells measured, %d not applicable, %d invalid -> %s",
        trial,
        device,
        len(ok),
        int((df.status == "not_applicable").sum()),
        int((df.status == "invalid").sum()),
        out,
    )
    return df


def _failed(exc: Exception) -> dict[str, Any]:
    return {
        "status": "invalid",
        "reason": f"{type(exc).__name__}: {exc}",
        "valid": False,
        "flags": "",
        "energy_label": UNAVAILABLE,
    }


def _progress(row: Mapping[str, Any], total: int, started: float) -> None:
    """One line per finished cell in the job's log (not only the terminal's progress bar)."""
    j, p50 = row.get("j_per_inf_gross"), row.get("latency_p50_ms")
    log.info(
        "cell %d/%d %s batch %d %s %s%s: %s, p50 %s ms, %s J/inf (%s) [%.0f s elapsed]%s",
        row["cell_order"] + 1,
        total,
        row["variant"],
        row["batch_size"],
        row["padding"],
        row["mode"],
        "" if row["sampler"] else " (sampler off)",
        row["status"],
        f"{p50:.3g}" if p50 else "–",
        f"{j:.3g}" if j is not None else "–",
        row.get("energy_label"),
        time.perf_counter() - started,
        f" — {row['reason']}" if row.get("reason") else "",
    )


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
