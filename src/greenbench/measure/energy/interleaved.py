"""Interleaved windows (``energy.interleave``, CPU): the cells of one padding share one window,
iteration by iteration in rounds shuffled afresh, so drift of the host's speed hits them alike."""

from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np

from greenbench.data import models
from greenbench.measure.energy.cells import Cell
from greenbench.measure.energy.monitor import EnergyMonitor
from greenbench.measure.energy.window import device_sync, eager_step, idle_power, result_row, window_iterations


def interleaves(cfg: Mapping[str, Any], device: str) -> bool:
    """Whether a trial measures each padding's cells in one interleaved window (``energy.interleave``,
    CPU only: a GPU's NVML counter updates too coarsely to split a window iteration by iteration)."""
    return bool(cfg.get("interleave")) and device == "cpu"


def round_repeats(per_iter_s: Mapping[int, float]) -> dict[int, int]:
    """Iterations per round for each batch size of one interleaved window: enough that every batch
    size takes about as long per round as the slowest (``per_iter_s``: its median warm-up latency),
    so every cell of the window gets a similar share of it. Pure; at least 1 each."""
    slowest = max(per_iter_s.values())
    return {b: max(1, int(round(slowest / max(t, 1e-9)))) for b, t in per_iter_s.items()}


def measure_group(
    arms: list[tuple[Cell, Any]],
    batches: Mapping[int, list],
    device: str,
    cfg: Mapping[str, Any],
    monitor: EnergyMonitor,
    rng: np.random.Generator,
    idle_before: tuple[float | None, str] | None = None,
) -> tuple[list[dict[str, Any]], tuple]:
    """Measure several cells of one padding (all batch sizes) in one window, interleaved iteration by iteration.

    Every round runs each cell's iterations (``round_repeats``: a batch-1 cell runs as many as take a
    batch-64 cell's one) in an order shuffled afresh each round; the cells of one batch size run the
    same batches. Drift of the host's speed (other tenants of a VM, turbo, heat) hits all cells alike
    within a round, so their paired ratios cancel it, across variants and across batch sizes; separate
    windows seconds apart do not (``benchmarks/results/cpu-interleave-2026-12-04``). The first
    ``warmup.rounds`` rounds (one iteration per cell) are warm-up. Rounds continue until the median
    cell has filled ``window_s``. Energy per cell: a counter read around each iteration (RAPL:
    measured); else the window's estimate split by each cell's busy time (codecarbon's estimate is a
    power times time). ``batches``: per batch size. Returns one row per arm, in order, and the
    idle-after window (for ``share_idle``)."""
    import torch

    sync = device_sync(device)
    flags = [n for n in [models.reset_matmul_precision()] if n]
    for cell, prepared in arms:
        if getattr(prepared, "set_padding", None) is not None:
            prepared.set_padding(cell.padding)
    steps = [eager_step(prepared) for _, prepared in arms]
    sizes_of = [cell.batch_size for cell, _ in arms]
    n = len(arms)
    rounds = max(1, int(cfg["warmup"].get("rounds", 2)))
    warm = np.empty((n, rounds))

    def batch(size: int, k: int):
        pool = batches[size]
        return pool[k % len(pool)]

    with torch.inference_mode():
        for r in range(rounds):
            for i in rng.permutation(n):
                t0 = time.perf_counter()
                steps[i](batch(sizes_of[i], r))
                sync()
                warm[i, r] = time.perf_counter() - t0
        reps = round_repeats(
            {b: float(np.median([warm[i, -1] for i in range(n) if sizes_of[i] == b])) for b in set(sizes_of)}
        )
        per_round = [reps[sizes_of[i]] * warm[i, -1] for i in range(n)]
        window_s = float(cfg["window_s"][device])
        n_rounds = window_iterations(float(np.median(per_round)), window_s, 0, int(cfg["min_iterations"]))
        idle_s = float(cfg["idle_s"])
        settle_s = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        idle_before, why_before = (
            idle_before if idle_before is not None else idle_power(monitor, idle_s, sync, settle_s)
        )
        laps = monitor.can_lap
        latencies = [np.empty(n_rounds * reps[b]) for b in sizes_of]
        lap_j = np.zeros(n)
        slots = np.repeat(np.arange(n), [reps[b] for b in sizes_of])  # one entry per iteration of a round
        sync()
        monitor.begin_window()
        for k in range(n_rounds):
            done = np.zeros(n, dtype=np.int64)
            for i in rng.permutation(slots):
                j = k * reps[sizes_of[i]] + done[i]
                t0 = time.perf_counter()
                steps[i](batch(sizes_of[i], rounds + j))
                sync()
                latencies[i][j] = time.perf_counter() - t0
                done[i] += 1
                if laps:
                    lap_j[i] += monitor.lap()
        window = monitor.end_window()
        idle_after, why_after = idle_power(monitor, idle_s, sync, settle_s)
    shapes = {}  # per batch size, the sizes and padded lengths of the batches its cells ran, in order
    for b in set(sizes_of):
        ran = [batch(b, rounds + j)[0].shape for j in range(n_rounds * reps[b])]
        shapes[b] = (np.array([x[0] for x in ran], dtype=np.int64), np.array([x[1] for x in ran], dtype=np.int64))
    busy = np.array([lat.sum() for lat in latencies])
    total = window.primary.joules
    if laps and total is not None:
        joules = list(lap_j)
        how = "energy: the counter read around each of its iterations"
    else:
        joules = [total * b / busy.sum() if total is not None else None for b in busy]
        how = "energy: the window's estimate split by busy time"
    rows = []
    for i, (cell, prepared) in enumerate(arms):
        b = sizes_of[i]
        sizes, lengths = shapes[b]
        caveat = [prepared.caveat] if getattr(prepared, "caveat", "") else []
        cell_flags = (
            caveat
            + flags
            + [f"interleaved with {n - 1} other cells, {n_rounds} rounds of {reps[b]} iteration(s); {how}"]
        )
        if not cell.sampler:
            cell_flags.append("harness-overhead repeat (no sampler on this device)")
        row = result_row(
            window,
            float(busy[i]),
            joules[i],
            latencies[i],
            sizes,
            lengths,
            (idle_before, idle_after),
            why_before or why_after,
            cell_flags,
            cell,
        )
        row.update(iterations=len(latencies[i]), warmup_iterations=rounds, state_during_window=False)
        rows.append(row)
    return rows, (idle_after, why_after)
