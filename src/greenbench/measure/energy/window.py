"""One measured window: first calls, warm-up until latency settles, a window sized to the sensor
(CUDA graphs or eager steps), idle power with the model loaded around it, every value labelled.

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
from typing import Any, Callable, Mapping

import numpy as np

from greenbench.data import models
from greenbench.measure.energy.cells import Cell
from greenbench.measure.energy.meters.base import UNAVAILABLE
from greenbench.measure.energy.monitor import EnergyMonitor

LENGTH_BINS = (0, 16, 32, 64)  # bin edges in tokens (a batch's padded length); the last bin is open


def device_sync(device: str) -> Callable[[], None]:
    """What waits for the device to finish its queued work: CUDA's synchronize, or nothing on the CPU."""
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
            prev, last = statistics.median(lat[-2 * min_iters : -min_iters]), statistics.median(lat[-min_iters:])
            if abs(last - prev) <= tolerance * prev:
                break
        if time.perf_counter() - started > max_seconds:
            break
    return lat


def window_iterations(
    per_iter_s: float, window_s: float, n_batches: int, min_iterations: int, whole_pass_factor: float = 3.0
) -> int:
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


def timed_window(
    step, batches, sync, iterations: int, monitor: EnergyMonitor, min_seconds: float = 0.0, multiple: int = 0
):
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
        out[key] = {
            "lo": int(edges[b]) + 1,
            "seconds": float(np.asarray(latencies)[sel].sum()),
            "inferences": int(np.asarray(batch_sizes)[sel].sum()),
        }
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


def measure_cell(
    prepared,
    cell: Cell,
    batches,
    device: str,
    cfg: Mapping[str, Any],
    monitor: EnergyMonitor,
    idle_before: tuple[float | None, str] | None = None,
    trial_idle: tuple[float | None, str] | None = None,
) -> dict[str, Any]:
    """Measure one cell; an NVML/meter failure marks the cell invalid with its reason.
    ``idle_before``: the previous cell's idle-after window (``energy.share_idle``), measured with
    nothing running between it and this cell's warm-up, instead of a window of this cell's own.
    ``trial_idle``: the trial's one idle reading (``energy.idle_per_trial_s``), used before and after
    instead of any window of this cell's own."""
    import torch

    sync = device_sync(device)
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
        warm = warm_up(
            step,
            batches,
            sync,
            int(cfg["warmup"]["min_iters"]),
            float(cfg["warmup"]["max_s"]),
            float(cfg["warmup"]["tolerance"]),
        )
        per_iter = statistics.median(warm[-int(cfg["warmup"]["min_iters"]) :])
        window_s = float(cfg["window_s"][device])
        iterations = window_iterations(per_iter, window_s, pass_batches(cell, len(batches)), int(cfg["min_iterations"]))
        note = cool_down(monitor, float(cfg.get("cooldown_max_temp_c") or 0))
        if note:
            flags.append(note)
        idle_s = float(cfg["idle_s"])
        settle_s = float((cfg.get("idle_settle_s") or {}).get(device, 0.0))
        if trial_idle is not None:
            idle_before = trial_idle
        idle_before, why_before = (
            idle_before if idle_before is not None else idle_power(monitor, idle_s, sync, settle_s)
        )
        passes = pass_batches(cell, len(batches))
        whole = passes if passes and iterations % passes == 0 else 0  # the window covers whole passes: keep it so
        window, latencies, sizes, lengths = timed_window(
            step, batches, sync, iterations, monitor, min_seconds=window_s, multiple=whole
        )
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
    row.update(
        result_row(
            window,
            window.seconds,
            window.primary.joules,
            latencies,
            sizes,
            lengths,
            (idle_before, idle_after),
            why_before or why_after,
            flags,
            cell,
        )
    )
    short = window_problem(window.seconds, window_s)
    if short:
        row.update(status="invalid", valid=False, reason="; ".join(r for r in (row.get("reason"), short) if r))
    row.update(
        iterations=len(latencies),
        warmup_iterations=len(warm),
        peak_memory_bytes=peak_bytes,
        state_during_window=state_during,
        power_limit_w=state.get("power_limit_w"),
        sm_clock_mhz=state.get("sm_clock_mhz"),
        mem_clock_mhz=state.get("mem_clock_mhz"),
        temperature_c=state.get("temperature_c"),
        throttle_reasons=state.get("throttle_reasons"),
    )
    row["_idle_after"] = (idle_after, why_after)
    return row


def result_row(
    window,
    seconds: float,
    joules: float | None,
    latencies,
    sizes,
    lengths,
    idle: tuple[float | None, float | None],
    why_no_idle: str,
    flags: list[str],
    cell: Cell,
) -> dict[str, Any]:
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
        status="ok",
        reason="",
        valid=window.valid,
        flags="; ".join(flags + window.reasons),
        inferences=inferences,
        window_s=seconds,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        latency_p99_ms=p99,
        throughput_per_s=inferences / seconds,
        energy_source=primary.source,
        energy_label=primary.label,
        j_per_inf_gross=gross,
        j_per_inf_idle=idle_j,
        j_per_inf_net=net,
        idle_power_w=idle_w,
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
