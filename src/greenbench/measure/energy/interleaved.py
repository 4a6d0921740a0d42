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


def cell_rounds(per_round_s, n_rounds: int, window_s: float, slow_rounds: int) -> list[int]:
    """Rounds each cell of an interleaved window takes part in: all ``n_rounds``, except a cell whose one
    round already outlasts the window (an int8 kernel without VNNI at batch 64 takes seconds an
    iteration), which runs ``slow_rounds`` of them (at least 1, at most ``n_rounds``): its busy time
    still exceeds ``slow_rounds`` windows, and the window is no longer as long as its slowest cell times
    ``min_iterations``. Pure."""
    keep = max(1, min(int(slow_rounds), int(n_rounds)))
    return [int(n_rounds) if t <= window_s else keep for t in per_round_s]


def spread_rounds(taken: int, n_rounds: int) -> np.ndarray:
    """The ``taken`` rounds (of ``n_rounds``) a capped cell runs: evenly spread, so it samples the whole
    window's drift, first and last included. Pure."""
    if taken >= n_rounds:
        return np.arange(n_rounds)
    return np.unique(np.round(np.linspace(0, n_rounds - 1, taken)).astype(int))


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
        # slow: even its fastest warm-up round outlasts the window (a stall in one round caps nothing)
        fastest_round = [reps[sizes_of[i]] * warm[i].min() for i in range(n)]
        taken = cell_rounds(fastest_round, n_rounds, window_s, int(cfg.get("slow_cell_rounds") or n_rounds))
        runs_in = [set(spread_rounds(t, n_rounds).tolist()) for t in taken]
        idle_s = float(cfg["idle_s"])
        settle_s = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        idle_before, why_before = (
            idle_before if idle_before is not None else idle_power(monitor, idle_s, sync, settle_s)
        )
        laps = monitor.can_lap
        # per cell, the batch positions it runs: round k, repeat r -> position k * reps + r (a capped cell
        # runs the positions of its rounds only: a spread subset of the same batches as its batch size's)
        positions = [
            [k * reps[sizes_of[i]] + r for k in sorted(runs_in[i]) for r in range(reps[sizes_of[i]])] for i in range(n)
        ]
        latencies = [np.empty(len(pos)) for pos in positions]
        lap_j = np.zeros(n)
        sync()
        monitor.begin_window()
        done = np.zeros(n, dtype=np.int64)
        for k in range(n_rounds):
            cells = [i for i in range(n) if k in runs_in[i]]
            slots = np.repeat(cells, [reps[sizes_of[i]] for i in cells])  # one entry per iteration of a round
            for i in rng.permutation(slots):
                j = positions[i][done[i]]
                t0 = time.perf_counter()
                steps[i](batch(sizes_of[i], rounds + j))
                sync()
                latencies[i][done[i]] = time.perf_counter() - t0
                done[i] += 1
                if laps:
                    lap_j[i] += monitor.lap()
        window = monitor.end_window()
        idle_after, why_after = idle_power(monitor, idle_s, sync, settle_s)
    shapes = []  # per cell, the sizes and padded lengths of the batches it ran, in order
    for i in range(n):
        ran = [batch(sizes_of[i], rounds + j)[0].shape for j in positions[i]]
        shapes.append((np.array([x[0] for x in ran], dtype=np.int64), np.array([x[1] for x in ran], dtype=np.int64)))
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
        sizes, lengths = shapes[i]
        caveat = [prepared.caveat] if getattr(prepared, "caveat", "") else []
        capped = (
            f" (one round outlasts the {window_s:g} s window: {taken[i]} of {n_rounds} rounds, spread over it)"
            if taken[i] < n_rounds
            else ""
        )
        cell_flags = (
            caveat
            + flags
            + [f"interleaved with {n - 1} other cells, {taken[i]} rounds of {reps[b]} iteration(s){capped}; {how}"]
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
