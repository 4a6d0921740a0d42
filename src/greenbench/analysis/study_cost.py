"""What the study itself costs: every compute job runs inside one energy window (the same
``EnergyMonitor`` the measurements use), which leaves one Parquet row per job: wall and CPU time,
energy with its label and source, the device. ``combine`` sums nothing away: it stacks the rows, shares
out the whole-machine readings of jobs that ran side by side (``shared_energy``: each window read the
whole host) and prices them at a configured grid's mean carbon intensity.

A job's window covers the whole host process: on cpu that is RAPL package + DRAM when readable
(measured) else codecarbon's whole-machine estimate (estimated), on cuda the GPU's NVML energy
counter (the host CPU of a GPU job is not in it). A job never fails because its meter did: the row
says ``unavailable`` with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import resource
import socket
import time
from typing import Any, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io
from greenbench.measure.energy.meters.base import UNAVAILABLE
from greenbench.core.log import logged_script

# rule -> the stage it is reported under ("what this study cost")
STAGES = {
    "tokenize": "data",
    "finetune": "fine-tune",
    "build_variant": "build",
    "teacher_logits": "build",  # the rewrites' shared teacher pass: part of their recovery
    "evaluate": "evaluate",
    "measure_energy": "measure",
    "forecast_carbon": "forecast",
    "forecast_hourly": "forecast",
    "simulate_schedule": "schedule",
    "aggregate": "statistics",
}
MEASURING = ("measure",)  # the stages that are the measurement itself
CODECARBON_INTERVAL_S = 30.0  # a job-long codecarbon estimate samples the load this often (it averages between)

S, F64, I64 = pa.string(), pa.float64(), pa.int64()
ROW_SCHEMA = pa.schema(
    [
        ("job", S),
        ("stage", S),
        ("target", S),
        ("device", S),
        ("started_utc", S),
        ("wall_s", F64),
        ("cpu_s", F64),
        ("energy_j", F64),
        ("energy_label", S),
        ("energy_source", S),
        ("energy_reason", S),
        ("threads", I64),
        ("host", S),
    ]
)
TABLE_SCHEMA = pa.schema(
    [*ROW_SCHEMA, ("window_energy_j", F64), ("shared_s", F64), ("zone", S), ("ci_g_per_kwh", F64), ("co2e_g", F64)]
)
WHOLE_MACHINE = ("rapl", "codecarbon")  # energy sources that read the whole host, whichever job runs


def job_device(wildcards: Any) -> str:
    """The device a job's energy is read on: its ``device`` wildcard, else the CPU."""
    return str(getattr(wildcards, "device", None) or "cpu")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class JobWindow:
    """One energy window around a whole job. ``begin``/``end`` never raise: a meter that fails
    makes the row ``unavailable`` with the reason instead."""

    def __init__(self, device: str, monitor=None):
        self.device, self.monitor, self.reason = device, monitor, ""
        if monitor is None:
            try:
                from greenbench.measure.energy.monitor import EnergyMonitor

                self.monitor = EnergyMonitor.for_device(
                    device, sampler=False, estimate_interval_s=CODECARBON_INTERVAL_S
                )
            except Exception as exc:
                self.reason = f"no energy monitor for {device}: {type(exc).__name__}: {exc}"

    def begin(self) -> None:
        self.started = dt.datetime.now(dt.timezone.utc)
        self.cpu0, self.t0 = _cpu_seconds(), time.perf_counter()
        if self.monitor is not None:
            try:
                self.monitor.begin_window()
            except Exception as exc:
                self.monitor, self.reason = None, f"energy window failed to start: {type(exc).__name__}: {exc}"

    def end(self) -> dict[str, Any]:
        wall, cpu = time.perf_counter() - self.t0, _cpu_seconds() - self.cpu0
        energy, label, source, reason = None, UNAVAILABLE, "", self.reason
        if self.monitor is not None:
            try:
                reading = self.monitor.end_window().primary
                energy, label, source = reading.joules, reading.label, reading.source
                reason = reading.reason if (reading.reason or not reading.valid or energy is None) else ""
                if energy is None or not reading.valid:
                    energy, label = None, UNAVAILABLE
                    reason = reason or f"{source} returned no value"
            except Exception as exc:
                reason = f"energy window failed: {type(exc).__name__}: {exc}"
        return {
            "device": self.device,
            "started_utc": self.started.isoformat(timespec="milliseconds"),
            "wall_s": wall,
            "cpu_s": cpu,
            "energy_j": energy,
            "energy_label": label,
            "energy_source": source,
            "energy_reason": reason,
        }


def write_row(path, job: str, target: str, measured: Mapping[str, Any], threads: int | None) -> None:
    row = {
        "job": job,
        "stage": STAGES.get(job, job),
        "target": target,
        **measured,
        "threads": int(threads or 0),
        "host": socket.gethostname(),
    }
    io.write_parquet(pd.DataFrame([row]), path, ROW_SCHEMA)


def release_openmp_threads(threads: int | None) -> bool:
    """Drop the ``OMP_NUM_THREADS`` Snakemake exports to a job of more than one thread, while torch is not yet
    imported (libgomp reads it when torch loads). The jobs set torch's threads themselves
    (``wiring.threads``); with the variable also set, the same two threads ran a MiniLM training step 6-11%
    slower on a 2-core AMD EPYC guest (446-465 against 419-421 ms; the forecasting stage showed no difference
    beyond its noise: ``experiments/2026-12-07-laptop-budget/omp_probe.py``, ``omp-results.txt``). One-thread jobs keep it (= 1): a library that
    reads it stays on its one core. Returns whether it was dropped."""
    import os
    import sys

    if not threads or int(threads) <= 1 or "torch" in sys.modules or "OMP_NUM_THREADS" not in os.environ:
        return False
    del os.environ["OMP_NUM_THREADS"]
    return True


@contextlib.contextmanager
def tracked(smk, name: str, window: JobWindow | None = None) -> Iterator[Any]:
    """A rule's script body: logged to the rule's log (``logged_script``) and, when the rule declares
    a ``footprint`` output, measured as one energy window written there once the job succeeded. A job of
    more than one thread runs without Snakemake's ``OMP_NUM_THREADS`` (``release_openmp_threads``)."""
    release_openmp_threads(getattr(smk, "threads", None))
    out = getattr(smk.output, "footprint", None)
    with logged_script(smk.log[0], name) as logger:
        if out is None:
            yield logger
            return
        window = window or JobWindow(job_device(smk.wildcards))
        window.begin()
        yield logger
        measured = window.end()
        write_row(out, name, str(smk.output[0]), measured, getattr(smk, "threads", None))
        logger.info(
            "%s: %.1f s wall, %.1f s CPU, energy %s (%s%s)",
            name,
            measured["wall_s"],
            measured["cpu_s"],
            "n/a" if measured["energy_j"] is None else f"{measured['energy_j']:.0f} J",
            measured["energy_label"],
            f": {measured['energy_reason']}" if measured["energy_reason"] else "",
        )


def grid_intensity(traces: pd.DataFrame, zone: str) -> float:
    """The zone's mean carbon intensity (gCO2e/kWh) over the traces the study reads."""
    values = traces.loc[traces.zone == zone, "ci"]
    if values.empty:
        raise ValueError(f"footprint.zone '{zone}' has no carbon trace (carbon.zones: {sorted(traces.zone.unique())})")
    return float(values.mean())


def shared_energy(starts: np.ndarray, walls: np.ndarray, energies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole-machine readings of jobs that ran side by side, shared out. Each job's window read the whole
    host, so overlapping windows count the same joules more than once. Over every stretch of a job's
    window, the job keeps its window's mean power times the stretch divided by the number of jobs whose
    windows cover it. Returns (energy shares, seconds of each window shared with another job). A job
    alone keeps its reading; a stretch that k jobs share counts the mean of their powers once in the
    total; NaN energy stays NaN (that job still counts as running). Pure."""
    starts, walls, energies = (np.asarray(a, dtype=float) for a in (starts, walls, energies))
    ends = starts + walls
    cuts = np.unique(np.concatenate([starts, ends]))
    mids, lengths = (cuts[:-1] + cuts[1:]) / 2, np.diff(cuts)
    running = (starts[:, None] <= mids[None, :]) & (mids[None, :] < ends[:, None])  # job x stretch
    count = running.sum(axis=0)
    inside = np.where(running, lengths[None, :], 0.0)
    fraction = (inside / np.maximum(count, 1)[None, :]).sum(axis=1)  # seconds, each divided by the sharers
    shared = np.where(running & (count > 1)[None, :], lengths[None, :], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        power = np.where(walls > 0, energies / walls, np.nan)
    share = np.where(shared > 0, power * fraction, energies)
    return share, shared


def _share_host_energy(df: pd.DataFrame) -> pd.DataFrame:
    """``shared_energy`` per host over the cpu jobs (GPU readings are the job's own device, not shared)."""
    df["window_energy_j"] = pd.to_numeric(df["energy_j"], errors="coerce")
    df["shared_s"] = 0.0
    cpu = df["device"].astype(str).eq("cpu")
    if not cpu.any():
        return df
    started = pd.to_datetime(df.loc[cpu, "started_utc"], utc=True, format="ISO8601")
    seconds = (started - started.min()).dt.total_seconds()
    for _, index in df.loc[cpu].groupby("host", sort=False).groups.items():
        energies = df.loc[index, "window_energy_j"].where(df.loc[index, "energy_source"].isin(WHOLE_MACHINE))
        share, shared = shared_energy(seconds[index].to_numpy(), df.loc[index, "wall_s"].to_numpy(), energies)
        df.loc[index, "shared_s"] = shared
        # a reading that is not the whole machine's stays as it is (shared_energy keeps a lone job's already)
        df.loc[index, "energy_j"] = np.where(energies.isna(), df.loc[index, "window_energy_j"], share)
    return df


def combine(rows: list[pd.DataFrame], ci_g_per_kwh: float, zone: str) -> pd.DataFrame:
    """Every job's row, with its gCO2e at the grid's mean intensity (NaN where the energy is unavailable).
    Jobs that ran side by side on one host share their whole-machine readings (``shared_energy``):
    ``energy_j`` is the job's share, ``window_energy_j`` what its window read, ``shared_s`` how long it
    shared the host."""
    df = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=ROW_SCHEMA.names)
    df = _share_host_energy(df)
    df["zone"], df["ci_g_per_kwh"] = zone, float(ci_g_per_kwh)
    df["co2e_g"] = pd.to_numeric(df["energy_j"], errors="coerce") / 3.6e6 * float(ci_g_per_kwh)
    return df.sort_values(["started_utc", "job", "target"], kind="stable").reset_index(drop=True)


def by_stage(table: pd.DataFrame) -> pd.DataFrame:
    """Wall time, kWh and gCO2e per stage, and each stage's share of the study's energy. A stage whose
    jobs have no energy value says so (``jobs_unavailable``) rather than counting as zero."""
    rows = []
    for stage, g in table.groupby("stage", sort=False):
        known = g["energy_j"].notna()
        labels = sorted(set(g.loc[known, "energy_label"]))
        rows.append(
            {
                "stage": stage,
                "jobs": len(g),
                "wall_s": g["wall_s"].sum(),
                "cpu_s": g["cpu_s"].sum(),
                "kwh": g.loc[known, "energy_j"].sum() / 3.6e6 if known.any() else float("nan"),
                "co2e_g": g.loc[known, "co2e_g"].sum() if known.any() else float("nan"),
                "jobs_unavailable": int((~known).sum()),
                "label": "+".join(labels) or UNAVAILABLE,
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    total = out["kwh"].sum(min_count=1)
    out["energy_share"] = out["kwh"] / total if total and total == total else float("nan")
    return out


def measuring_share(table: pd.DataFrame) -> float:
    """The share of the study's known energy spent on the measurement trials themselves."""
    known = table[table["energy_j"].notna()]
    total = known["energy_j"].sum()
    return float(known.loc[known.stage.isin(MEASURING), "energy_j"].sum() / total) if total > 0 else float("nan")


def to_markdown(table: pd.DataFrame) -> str:
    """ "What this study cost": totals, the share spent on measuring, and the table by stage."""
    stages = by_stage(table)
    zone, ci = (table["zone"].iloc[0], float(table["ci_g_per_kwh"].iloc[0])) if len(table) else ("n/a", float("nan"))
    known = table["energy_j"].notna()
    labels = ", ".join(sorted(set(table.loc[known, "energy_label"]))) or UNAVAILABLE
    share = measuring_share(table)
    if known.any():  # a value that does not exist is said so, never printed as 0 or nan
        energy = (
            f"{table.loc[known, 'energy_j'].sum() / 3.6e6:.4f} kWh ({labels}"
            + (f"; {int((~known).sum())} of {len(table)} jobs without a value" if (~known).any() else "")
            + f"), {table.loc[known, 'co2e_g'].sum():.1f} gCO2e at {zone}'s mean intensity ({ci:.0f} g/kWh)"
        )
        measuring = (
            f"measuring (the energy trials) took {100 * share:.0f}% of the energy"
            if share == share
            else "the energy trials' share is unknown (they have no energy value)"
        )
        summary = f"{energy}; {measuring}."
    else:
        summary = "energy and gCO2e unavailable: no job has an energy value (the reasons below)."
    lines = [
        "# What this study cost",
        "",
        f"{len(table)} compute jobs, {table['wall_s'].sum() / 60:.1f} min of job time"
        + (
            f" ({int((table['shared_s'] > 0).sum())} of them shared the host with another job: their energy is shared out)"
            if "shared_s" in table and (table["shared_s"] > 0).any()
            else ""
        )
        + f", {summary}",
        "",
    ]
    if (~known).any():
        reasons = sorted(set(table.loc[~known, "energy_reason"]))
        lines += [f"{int((~known).sum())} jobs have no energy value: " + "; ".join(reasons), ""]
    if len(stages):
        show = stages.assign(wall_min=stages.wall_s / 60, energy_share=100 * stages.energy_share)[
            ["stage", "jobs", "wall_min", "kwh", "co2e_g", "energy_share", "label", "jobs_unavailable"]
        ]
        lines += [show.to_markdown(index=False, floatfmt=".4g"), ""]
    lines += [
        "Energy per job: RAPL (measured) or codecarbon's whole-machine estimate (estimated) on cpu, the GPU's "
        "NVML counter on cuda; one window from the job's start to its end (greenbench.analysis.study_cost).",
        "",
    ]
    return "\n".join(lines)
