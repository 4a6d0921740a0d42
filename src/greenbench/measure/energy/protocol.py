"""The measurement protocol: pre-tokenized device-resident inputs, warm-up until latency
settles, windows sized to the sensor, idle power with the model loaded around each cell,
cells in a seeded random order inside each trial, every value labelled.

Serving mode: every window is *closed-loop* — one batch in flight, the host waits for its result
(device sync) before it issues the next, as a latency-bound server answering one request at a
time does. That is also how per-iteration latency is read (host clock around a synchronised
step). With CUDA graphs this exposes each replay's launch cost instead of hiding it behind a
queue of launches, which is the batch-1 serving case graphs are used for; a pipelined
(throughput) mode without per-iteration syncs is not measured."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.data import sst2 as data, models
from greenbench.core import io, provenance
from greenbench.cells import variants
from greenbench.measure.energy.meters import UNAVAILABLE
from greenbench.measure.energy.monitor import EnergyMonitor
from greenbench.core.log import get_logger
from greenbench.core.names import with_runtime

log = get_logger(__name__)

F64, I64, STR, BOOL = pa.float64(), pa.int64(), pa.string(), pa.bool_()
MEASUREMENT_SCHEMA = pa.schema([
    ("trial", I64), ("cell_order", I64), ("model", STR), ("variant", STR), ("device", STR),
    ("recipe", STR), ("runtime", STR),  # the variant name split: <recipe>@<runtime> (eager when no @)
    ("batch_size", I64), ("padding", STR), ("mode", STR), ("sampler", BOOL),
    ("status", STR), ("reason", STR), ("valid", BOOL), ("flags", STR),
    ("inferences", I64), ("iterations", I64), ("window_s", F64), ("warmup_iterations", I64),
    ("latency_p50_ms", F64), ("latency_p95_ms", F64), ("latency_p99_ms", F64), ("throughput_per_s", F64),
    ("energy_source", STR), ("energy_label", STR),
    ("j_per_inf_gross", F64), ("j_per_inf_idle", F64), ("j_per_inf_net", F64), ("idle_power_w", F64),
    ("integrated_label", STR), ("j_per_inf_gross_integrated", F64), ("counter_vs_integrated", F64),
    ("sampler_hz", F64), ("co2e_g_per_inf_estimated", F64),
    ("peak_memory_bytes", I64), ("size_bytes", I64),
    ("power_limit_w", F64), ("sm_clock_mhz", F64), ("mem_clock_mhz", F64), ("temperature_c", F64),
    ("throttle_reasons", I64), ("device_name", STR),
    # state above: summarised from snapshots taken during the window (True) or read right after it (False)
    ("state_during_window", BOOL),
    ("power_field", STR),  # the power reading the sampler integrated: instant | average (NVML) | empty
    # dynamic padding: the window's seconds and inferences per token-length bin (JSON), for J by length
    ("length_profile", STR),
])
LENGTH_BINS = (0, 16, 32, 64)  # bin edges in tokens (a batch's padded length); the last bin is open


@dataclass(frozen=True)
class Cell:
    variant: str
    batch_size: int
    padding: str      # dynamic | fixed
    mode: str         # eager | cuda_graph
    sampler: bool = True


def paddings_for(energy: Mapping[str, Any], device: str) -> list[str]:
    """``energy.paddings`` for one device: the list itself, or the device's entry of a per-device
    mapping (``{cpu: [dynamic], cuda: [dynamic, fixed]}``; a device without an entry measures none)."""
    paddings = energy["paddings"]
    return list(paddings.get(device, [])) if isinstance(paddings, Mapping) else list(paddings)


def plan_cells(variant_names, batch_sizes, paddings, modes, overhead: bool, seed: int, trial: int) -> list[Cell]:
    """Every cell of the trial in a seeded random order (the order differs between trials)."""
    cells = [Cell(v, int(b), p, m) for v, b, p, m in itertools.product(variant_names, batch_sizes, paddings, modes)]
    if overhead and cells:
        ref = cells[0]
        cells.append(Cell(ref.variant, ref.batch_size, ref.padding, ref.mode, sampler=False))
    return shuffle_cells(cells, seed, trial)


def shuffle_cells(cells: list[Cell], seed: int, trial: int) -> list[Cell]:
    """The cells in the trial's seeded random order (interleaving: drift cancels, pairs stay close)."""
    order = np.random.default_rng([seed, trial]).permutation(len(cells))
    return [cells[i] for i in order]


def spread_order(n: int, shift: float = 0.0) -> list[int]:
    """A permutation of ``range(n)`` whose every prefix spreads evenly over it: position k takes
    ``floor(((v(k) + shift) mod 1) * n)``, v the base-2 van der Corput sequence, skipping positions
    already taken (a randomly shifted low-discrepancy order: with ``shift`` uniform in [0, 1) each
    position is equally likely at every step, and a prefix of k covers k near-equal strata)."""
    if n <= 0:
        return []
    bits = max(1, (n - 1).bit_length())
    order, taken = [], set()
    for k in range(1 << bits):
        v = int(f"{k:0{bits}b}"[::-1], 2) / (1 << bits)
        pos = int(((v + shift) % 1.0) * n)
        if pos not in taken:
            taken.add(pos)
            order.append(pos)
    order += [p for p in range(n) if p not in taken]  # none in practice: 2**bits >= n strata each hit
    return order


def make_batches(tokens: pd.DataFrame, batch_size: int, padding: str, max_length: int, pad_id: int, device: str,
                 seed: int = 0):
    """Device-resident (ids, mask) batches. dynamic: length-bucketed (padded per batch), in the
    order ``spread_order`` gives the length-sorted buckets (its shift seeded), so that any prefix of
    the cycle a window runs spreads over dev's lengths like the whole (in sorted order a short
    window would see only the shortest sentences; a random order would see a random sample, whose
    mix of lengths changes each ratio to fp32 from one sample to the next); fixed: every sequence
    padded to ``max_length``, full batches only. The same ``seed`` gives the same batches: a study
    gives every trial the same, so trials differ by the host's noise alone."""
    import torch

    from greenbench.data.batching import iter_batches

    if padding == "dynamic":
        order = np.argsort(tokens["length"].to_numpy(), kind="stable")
        batches = list(iter_batches(tokens, batch_size, pad_id, order=order))
        shift = float(np.random.default_rng([seed, batch_size]).random())
        batches = [batches[i] for i in spread_order(len(batches), shift)]
    elif padding == "fixed":
        usable = (len(tokens) // batch_size) * batch_size
        batches = list(iter_batches(tokens.iloc[:usable], batch_size, pad_id, fixed_length=max_length))
    else:
        raise ValueError(f"unknown padding policy '{padding}' (expected dynamic or fixed)")
    moved = [(b.input_ids.to(device), b.attention_mask.to(device)) for b in batches]
    if device == "cuda":
        torch.cuda.synchronize()
    return moved


def _sync(device: str) -> Callable[[], None]:
    if device == "cuda":
        import torch

        return torch.cuda.synchronize
    return lambda: None


def eager_step(prepared):
    return lambda batch: prepared.forward(*batch)


def cuda_graph_step(prepared, batches):
    """Capture one forward on static buffers; replay it for every batch (same shape required)."""
    import torch

    shapes = {tuple(b[0].shape) for b in batches}
    if len(shapes) != 1:
        raise ValueError("CUDA graphs need one batch shape (use fixed padding)")
    static_ids, static_mask = batches[0][0].clone(), batches[0][1].clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            prepared.forward(static_ids, static_mask)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = prepared.forward(static_ids, static_mask)

    def step(batch):
        static_ids.copy_(batch[0])
        static_mask.copy_(batch[1])
        graph.replay()
        return static_out

    return step


def warm_up(step, batches, sync, min_iters: int, max_seconds: float, tolerance: float) -> list[float]:
    """Run until the median latency of the last ``min_iters`` iterations is within ``tolerance``
    of the previous ``min_iters`` (or ``max_seconds`` pass). Returns the latencies seen."""
    lat: list[float] = []
    started = time.perf_counter()
    for batch in itertools.cycle(batches):
        t0 = time.perf_counter()
        step(batch)
        sync()
        lat.append(time.perf_counter() - t0)
        if len(lat) >= 2 * min_iters:
            prev, last = statistics.median(lat[-2 * min_iters:-min_iters]), statistics.median(lat[-min_iters:])
            if abs(last - prev) <= tolerance * prev:
                break
        if time.perf_counter() - started > max_seconds:
            break
    return lat


def window_iterations(per_iter_s: float, window_s: float, n_batches: int, min_iterations: int,
                      whole_pass_factor: float = 3.0) -> int:
    """Iterations that fill ``window_s``; rounded up to whole passes over the batches when a pass
    costs at most ``whole_pass_factor`` windows, so the window covers the inputs exactly
    (``n_batches`` 0: no rounding)."""
    iterations = max(int(min_iterations), math.ceil(window_s / max(per_iter_s, 1e-6)))
    if n_batches and n_batches * per_iter_s <= whole_pass_factor * window_s:
        iterations = math.ceil(iterations / n_batches) * n_batches
    return iterations


def pass_batches(cell: "Cell", n_batches: int) -> int:
    """How many batches a window must round up to (0 = none). Fixed padding: every batch has the
    same shape and cost, so any prefix is exact — no rounding. Batch 1: the window is sized by the
    sensor alone; its batches are a seeded random order, drawn afresh in every trial, so a partial
    pass is an unbiased sample of dev's lengths. Other dynamic batches: whole passes."""
    if cell.padding == "fixed" or cell.batch_size == 1:
        return 0
    return n_batches


def timed_window(step, batches, sync, iterations: int, monitor: EnergyMonitor, min_seconds: float = 0.0,
                 multiple: int = 0):
    """The measured window: synchronised edges, per-iteration latency (synchronised too). Runs
    ``iterations``, then on while the window is shorter than ``min_seconds`` (the warm-up's latency
    can overstate the window's: a step that got faster), in steps of ``multiple`` iterations where
    the window must cover whole passes. Returns the window and, per iteration, latency (s), batch
    size and padded length."""
    latencies, sizes, lengths = [], [], []
    cycle = itertools.cycle(batches)
    sync()
    monitor.begin_window()
    begun = time.perf_counter()
    i = 0
    while i < iterations or time.perf_counter() - begun < min_seconds or (multiple and i % multiple):
        batch = next(cycle)
        t0 = time.perf_counter()
        step(batch)
        sync()
        latencies.append(time.perf_counter() - t0)
        sizes.append(batch[0].shape[0])
        lengths.append(batch[0].shape[1])
        i += 1
    window = monitor.end_window()
    return window, np.asarray(latencies), np.asarray(sizes, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def first_calls(step, batches, sync) -> int:
    """One untimed call per distinct batch shape among the first, the shortest and the longest batch,
    before warm-up: a runtime that compiles on first sight of a shape (torch.compile) does it here,
    not inside the warm-up, whose latencies size the window. Returns the calls made."""
    if not batches:
        return 0
    by_length = sorted(batches, key=lambda b: tuple(b[0].shape))
    seen, calls = set(), 0
    for batch in (batches[0], by_length[0], by_length[-1]):
        shape = tuple(batch[0].shape)
        if shape not in seen:
            seen.add(shape)
            step(batch)
            sync()
            calls += 1
    return calls


def window_problem(seconds: float, window_s: float) -> str | None:
    """Why a window cannot stand for its cell (shorter than 0.9 x ``window_s``: the meter's update
    interval is then too large a share of it), or None."""
    if seconds < 0.9 * window_s:
        return f"window {seconds:.3f} s is shorter than 0.9 x the {window_s} s the sensor needs"
    return None


def length_profile(latencies, lengths, batch_sizes) -> dict[str, dict[str, float]]:
    """Seconds and inferences of a window per token-length bin (``LENGTH_BINS``), keyed "lo-hi"."""
    edges = list(LENGTH_BINS) + [np.inf]
    bins = np.digitize(np.asarray(lengths), edges[1:-1], right=True)
    out = {}
    for b in np.unique(bins):
        sel = bins == b
        hi = edges[b + 1]
        key = f"{edges[b] + 1}-{int(hi)}" if np.isfinite(hi) else f">{edges[b]}"
        out[key] = {"lo": int(edges[b]) + 1, "seconds": float(np.asarray(latencies)[sel].sum()),
                    "inferences": int(np.asarray(batch_sizes)[sel].sum())}
    return out


def idle_power(monitor: EnergyMonitor, seconds: float, sync, settle_s: float = 0.0) -> tuple[float | None, str]:
    """Power with the model loaded and nothing running (W) from the primary meter, or None + why.
    ``settle_s`` passes first, so the tail of the last load (clocks and power ramping down, a
    counter that updates every ~100 ms) is not counted as idle."""
    sync()
    if settle_s > 0:
        time.sleep(settle_s)
    monitor.begin_window()
    time.sleep(seconds)
    window = monitor.end_window()
    if window.primary.joules is None:
        return None, window.primary.reason or window.primary.label
    return window.primary.joules / window.seconds, ""


def cool_down(monitor: EnergyMonitor, max_temp_c: float, timeout_s: float = 120.0) -> str:
    if not max_temp_c:
        return ""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        temp = monitor.state().get("temperature_c")
        if temp is None or temp <= max_temp_c:
            return ""
        time.sleep(1.0)
    return f"cooldown to {max_temp_c} C timed out"


def _percentiles(latencies: np.ndarray) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(latencies * 1000.0, [50, 95, 99])
    return float(p50), float(p95), float(p99)


def measure_cell(prepared, cell: Cell, batches, device: str, cfg: Mapping[str, Any], monitor: EnergyMonitor,
                 idle_before: tuple[float | None, str] | None = None,
                 trial_idle: tuple[float | None, str] | None = None) -> dict[str, Any]:
    """Measure one cell; an NVML/meter failure marks the cell invalid with its reason.
    ``idle_before``: the previous cell's idle-after window (``energy.share_idle``), measured with
    nothing running between it and this cell's warm-up, instead of a window of this cell's own.
    ``trial_idle``: the trial's one idle reading (``energy.idle_per_trial_s``), used before and after
    instead of any window of this cell's own."""
    import torch

    sync = _sync(device)
    set_padding = getattr(prepared, "set_padding", None)
    if set_padding is not None:  # e.g. the adaptive router trims padding only where the cell's inputs are unpadded
        set_padding(cell.padding)
    flags: list[str] = [prepared.caveat] if prepared.caveat else []
    precision_note = models.reset_matmul_precision()
    if precision_note:
        flags.append(precision_note)
    row: dict[str, Any] = {"status": "ok", "reason": ""}
    baseline_bytes = 0
    if device == "cuda":  # this cell's own working memory: from here, so graph capture pools count too
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline_bytes = torch.cuda.memory_allocated()
    with torch.inference_mode():
        if cell.mode == "cuda_graph":
            step = cuda_graph_step(prepared, batches)  # its capture runs three untimed forwards first
        else:
            step = eager_step(prepared)
            first_calls(step, batches, sync)
        warm = warm_up(step, batches, sync, int(cfg["warmup"]["min_iters"]), float(cfg["warmup"]["max_s"]),
                       float(cfg["warmup"]["tolerance"]))
        per_iter = statistics.median(warm[-int(cfg["warmup"]["min_iters"]):])
        window_s = float(cfg["window_s"][device])
        iterations = window_iterations(per_iter, window_s, pass_batches(cell, len(batches)), int(cfg["min_iterations"]))
        note = cool_down(monitor, float(cfg.get("cooldown_max_temp_c") or 0))
        if note:
            flags.append(note)
        idle_s = float(cfg["idle_s"])
        settle_s = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        if trial_idle is not None:
            idle_before = trial_idle
        idle_before, why_before = idle_before if idle_before is not None else idle_power(monitor, idle_s, sync, settle_s)
        passes = pass_batches(cell, len(batches))
        whole = passes if passes and iterations % passes == 0 else 0  # the window covers whole passes: keep it so
        window, latencies, sizes, lengths = timed_window(step, batches, sync, iterations, monitor, min_seconds=window_s,
                                                         multiple=whole)
        state = window.state_during
        state_during = state is not None
        if state is None:
            state = monitor.state()
        peak_bytes = int(torch.cuda.max_memory_allocated() - baseline_bytes) if device == "cuda" else None
        if trial_idle is not None:
            idle_after, why_after = trial_idle
        else:
            idle_after, why_after = idle_power(monitor, idle_s, sync, settle_s)
    if trial_idle is not None:
        flags.append("idle: the trial's one reading with every model loaded")
    row.update(_result(window, window.seconds, window.primary.joules, latencies, sizes, lengths,
                       (idle_before, idle_after), why_before or why_after, flags, cell))
    short = window_problem(window.seconds, window_s)
    if short:
        row.update(status="invalid", valid=False, reason="; ".join(r for r in (row.get("reason"), short) if r))
    row.update(iterations=len(latencies), warmup_iterations=len(warm), peak_memory_bytes=peak_bytes,
               state_during_window=state_during, power_limit_w=state.get("power_limit_w"),
               sm_clock_mhz=state.get("sm_clock_mhz"), mem_clock_mhz=state.get("mem_clock_mhz"),
               temperature_c=state.get("temperature_c"), throttle_reasons=state.get("throttle_reasons"))
    row["_idle_after"] = (idle_after, why_after)
    return row


def _result(window, seconds: float, joules: float | None, latencies, sizes, lengths,
            idle: tuple[float | None, float | None], why_no_idle: str, flags: list[str], cell: Cell) -> dict[str, Any]:
    """A measured cell's values from its busy ``seconds``, the ``joules`` its primary meter gave them
    (None: no reading; its share of the window's codecarbon CO2e follows), the window's meters and
    the idle power (W) before and after; status and reason said in the row itself."""
    p50, p95, p99 = _percentiles(latencies)
    primary, cross = window.primary, window.cross_check
    idle_values = [v for v in idle if v is not None]
    idle_w = float(np.mean(idle_values)) if idle_values else None
    co2 = window.readings.get("codecarbon")
    co2e_g = co2.extra["co2e_g"] if co2 and co2.joules is not None else None
    inferences = int(np.asarray(sizes).sum())
    gross = joules / inferences if joules is not None else None
    idle_j = idle_w * seconds / inferences if idle_w is not None and gross is not None else None
    if idle_w is None and primary.label != UNAVAILABLE:
        flags.append(f"idle power unavailable: {why_no_idle}")
    net = (gross - idle_j) if idle_j is not None else None
    if net is not None and net <= 0:
        # the meter cannot resolve load above idle in this window (e.g. codecarbon's 1 s load sampling
        # lags short windows): no net value rather than a negative one
        flags.append(f"net energy not resolvable: idle {idle_j:.4g} J/inf >= gross {gross:.4g} J/inf")
        net = None
    share = joules / primary.joules if joules is not None and primary.joules else 1.0
    row = dict(
        status="ok", reason="", valid=window.valid, flags="; ".join(flags + window.reasons),
        inferences=inferences, window_s=seconds,
        latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99, throughput_per_s=inferences / seconds,
        energy_source=primary.source, energy_label=primary.label,
        j_per_inf_gross=gross, j_per_inf_idle=idle_j, j_per_inf_net=net, idle_power_w=idle_w,
        integrated_label=cross.label if cross else UNAVAILABLE,
        j_per_inf_gross_integrated=(cross.joules / inferences) if cross and cross.joules is not None else None,
        counter_vs_integrated=window.disagreement,
        sampler_hz=cross.extra.get("sampler_hz") if cross else None,
        co2e_g_per_inf_estimated=co2e_g * share / inferences if co2e_g is not None else None,
        power_field=cross.extra.get("power_field") if cross else None,
        length_profile=json.dumps(length_profile(latencies, lengths, sizes)) if cell.padding == "dynamic" else None,
    )
    if not window.valid:
        row["status"] = "invalid"
        row["reason"] = "; ".join(window.reasons)
    elif primary.label == UNAVAILABLE:  # latency is measured, energy is not: say why in the row itself
        row["reason"] = f"energy unavailable: {primary.reason or 'no meter reading'}"
    return row


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


def measure_group(arms: list[tuple[Cell, Any]], batches: Mapping[int, list], device: str, cfg: Mapping[str, Any],
                  monitor: EnergyMonitor, rng: np.random.Generator,
                  idle_before: tuple[float | None, str] | None = None) -> tuple[list[dict[str, Any]], tuple]:
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

    sync = _sync(device)
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
        reps = round_repeats({b: float(np.median([warm[i, -1] for i in range(n) if sizes_of[i] == b]))
                              for b in set(sizes_of)})
        per_round = [reps[sizes_of[i]] * warm[i, -1] for i in range(n)]
        window_s = float(cfg["window_s"][device])
        n_rounds = window_iterations(float(np.median(per_round)), window_s, 0, int(cfg["min_iterations"]))
        idle_s = float(cfg["idle_s"])
        settle_s = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        idle_before, why_before = idle_before if idle_before is not None else idle_power(monitor, idle_s, sync, settle_s)
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
        cell_flags = caveat + flags + [f"interleaved with {n - 1} other cells, {n_rounds} rounds of {reps[b]} "
                                       f"iteration(s); {how}"]
        if not cell.sampler:
            cell_flags.append("harness-overhead repeat (no sampler on this device)")
        row = _result(window, float(busy[i]), joules[i], latencies[i], sizes, lengths, (idle_before, idle_after),
                      why_before or why_after, cell_flags, cell)
        row.update(iterations=len(latencies[i]), warmup_iterations=rounds, state_during_window=False)
        rows.append(row)
    return rows, (idle_after, why_after)


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
    per_cell = (min(float(cfg["warmup"]["max_s"]), 0.5) + float(cfg["window_s"][device])
                + idle_windows * (float(cfg["idle_s"]) + settle) + 0.3)
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
    io.write_parquet(df, out, MEASUREMENT_SCHEMA, {"files": [str(f) for f in files],
                                                   "provenance": [io.read_metadata(f) for f in files]})
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
    monitor = monitor or EnergyMonitor.for_device(device, float(cfg["sampler_hz"]), codecarbon_country=cfg["codecarbon_country"])
    monitor_off = monitor.without_sampler()
    prepared, reasons, sizes = {}, {}, {}
    for name in variant_names:
        reason = variants.get(name).applicability(device)
        if reason is None:
            try:
                prepared[name] = variants.get(name).prepare(models.load_classifier(str(model_dir)), device,
                                                            artifacts.get(name), variant_params.get(name) or {})
                sizes[name] = prepared_footprint(prepared[name])["size_bytes"]
            except variants.NotApplicable as exc:  # decided when the runtime artifact was built
                reason = str(exc)
            except Exception as exc:
                reason = f"could not prepare: {type(exc).__name__}: {exc}"
        if reason:
            reasons[name] = reason
    batches_cache: dict[tuple[int, str], list] = {}
    if cells is None:
        cells = plan_cells(variant_names, cfg["batch_sizes"], paddings_for(cfg, device), cfg["modes"], bool(cfg["overhead_check"]),
                           seed, trial)
    else:
        cells = shuffle_cells(list(cells), seed, trial)
    rows = []
    share_idle, last_idle = shares_idle(cfg, device), None
    started = time.perf_counter()
    to_measure = sum(1 for c in cells if c.variant not in reasons and not refusal(c, device, prepared[c.variant]))
    log.info("trial %d on %s: %d cells, %d to measure, about %.0f s (estimate)", trial, device, len(cells), to_measure,
             estimate_trial_seconds(to_measure, cfg, device))
    trial_idle = None
    per_trial_idle_s = idle_per_trial(cfg, device)
    if per_trial_idle_s and to_measure:  # one idle reading, every model loaded, before the first cell
        _sync(device)()
        watts, why, info = monitor.idle_power(per_trial_idle_s,
                                              settle_s=float((cfg.get("idle_settle_s") or {}).get(device, 0.0)))
        trial_idle = (watts, why)
        log.info("trial %d idle: %s over %.2f s (%s)", trial, f"{watts:.2f} W" if watts is not None else why,
                 float(info.get("seconds") or 0.0), "aligned to the counter's updates" if info.get("aligned")
                 else "one window")

    def batches_for(cell: Cell) -> list:
        key = (cell.batch_size, cell.padding)
        if key not in batches_cache:
            batches_cache[key] = make_batches(tokens, cell.batch_size, cell.padding, max_length, pad_id, device,
                                              seed)  # every trial the same batches: trials differ by noise alone
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
                row = measure_cell(prepared[cell.variant], cell, batches_for(cell), device, cfg,
                                   monitor if cell.sampler else monitor_off,
                                   idle_before=last_idle if cell.sampler else None, trial_idle=trial_idle)
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
            measured, idle_after = measure_group(arms, {c.batch_size: batches_for(c) for _, c in members}, device,
                                                 cfg, monitor,
                                                 np.random.default_rng([seed, trial, number]), idle_before=last_idle)
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
    meta = provenance.collect(cfg, trial=trial, device=device, model=model_name, **monitor.identity,
                              cuda=getattr(torch.version, "cuda", None), threads=torch.get_num_threads())
    io.write_parquet(df, out, MEASUREMENT_SCHEMA, meta)
    ok = df[df.status == "ok"]
    log.info("trial %d on %s: %d cells measured, %d not applicable, %d invalid -> %s", trial, device, len(ok),
             int((df.status == "not_applicable").sum()), int((df.status == "invalid").sum()), out)
    return df


def _failed(exc: Exception) -> dict[str, Any]:
    return {"status": "invalid", "reason": f"{type(exc).__name__}: {exc}", "valid": False, "flags": "",
            "energy_label": UNAVAILABLE}


def _progress(row: Mapping[str, Any], total: int, started: float) -> None:
    """One line per finished cell in the job's log (not only the terminal's progress bar)."""
    j, p50 = row.get("j_per_inf_gross"), row.get("latency_p50_ms")
    log.info("cell %d/%d %s batch %d %s %s%s: %s, p50 %s ms, %s J/inf (%s) [%.0f s elapsed]%s", row["cell_order"] + 1,
             total, row["variant"], row["batch_size"], row["padding"], row["mode"],
             "" if row["sampler"] else " (sampler off)", row["status"], f"{p50:.3g}" if p50 else "–",
             f"{j:.3g}" if j is not None else "–", row.get("energy_label"), time.perf_counter() - started,
             f" — {row['reason']}" if row.get("reason") else "")


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
