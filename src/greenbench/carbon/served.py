"""What the routing simulation serves (``carbon.schedule.energy``): J per request, latency p50/p95 and
their label, in one of three forms.

- ``answer`` (the default): the study's answer, one served cell per device (and model) that has a
  qualifying configuration; latencies are request latencies at the answer's traffic (batch wait
  included). The workflow reads it from ``results/carbon/served.parquet`` (rule ``served_cell``: the
  answer's cell chosen as rule ``answer`` chooses it, without reading the carbon table, so a grid
  intensity edit reruns no routing); the answer's own table (``results/stats/answer.parquet``) has the
  same columns and serves as well.
- a measured cell ``{variant, batch_size, padding, mode, device}``: its J/inference and batch latency
  from ``results/stats/energy.parquet``.
- given values ``{j_per_request, latency_p50_ms, latency_p95_ms}`` (a carbon-only study).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from greenbench.core.log import get_logger

log = get_logger(__name__)

ANSWER = "answer"
GIVEN_KEYS = ("j_per_request", "latency_p50_ms", "latency_p95_ms")
# the columns the simulation reads of the served-cell table or the answer's (greenbench.report.answer writes both)
ANSWER_COLUMNS = ("device", "model", "variant", "batch_size", "padding", "mode", "j_per_inf", "energy_label")
ANSWER_LATENCY = ("request_p50_ms", "request_p95_ms")


@dataclass(frozen=True)
class Served:
    """One served configuration: J per request (before PUE), latency p50/p95 (ms) and the energy label."""

    device: str | None
    model: str | None
    served: str  # e.g. "int8_dynamic@onnxruntime batch 1, dynamic, eager"
    j_per_request: float
    p50_ms: float
    p95_ms: float
    label: str
    traffic_rps: float = math.nan  # the traffic the answer chose this configuration for (answer rows only)


def serves_answer(cell: Any) -> bool:
    """``carbon.schedule.energy: answer``: the routing serves the study's answer."""
    return isinstance(cell, str) and cell == ANSWER


def energy_is_given(cell: Any) -> bool:
    """``carbon.schedule.energy`` gives J per request and latencies directly (a carbon-only study)."""
    return isinstance(cell, Mapping) and "j_per_request" in cell


def describe(variant: str, batch_size: Any, padding: Any, mode: Any, effective_batch: Any = None) -> str:
    """ "int8_dynamic@onnxruntime batch 8 (effective 2.5), dynamic, eager": the effective batch only where
    the traffic fills batches less than the configured size."""
    text = f"{variant} batch {int(batch_size)}"
    try:
        eff = float(effective_batch)
    except (TypeError, ValueError):
        eff = math.nan
    if math.isfinite(eff) and abs(eff - int(batch_size)) > 0.05:
        text += f" (effective {eff:.3g})"
    return f"{text}, {padding}, {mode}"


def from_answer(answer: pd.DataFrame) -> list[Served]:
    """One served configuration per answer row that has a qualifying cell; rows without one are logged."""
    missing = [c for c in (*ANSWER_COLUMNS, *ANSWER_LATENCY) if c not in answer.columns]
    if missing:
        raise ValueError(
            f"carbon.schedule.energy: answer: the answer table lacks {missing} (rerun rule `served_cell`, or give "
            "carbon.schedule.energy a measured cell or j_per_request/latency_p50_ms/latency_p95_ms)"
        )
    out = []
    for r in answer.to_dict("records"):
        if pd.isna(r["variant"]):
            reason = r.get("reason") or "no measured cell qualifies"
            log.warning("routing: %s / %s has no answer (%s): nothing to serve there", r["device"], r["model"], reason)
            continue
        j = math.nan if pd.isna(r["j_per_inf"]) else float(r["j_per_inf"])
        label = str(r["energy_label"]) if math.isfinite(j) else "unavailable"
        if not math.isfinite(j):
            log.warning("routing: the answer on %s has no energy value: gCO2e are unavailable", r["device"])
        out.append(
            Served(
                str(r["device"]),
                str(r["model"]),
                describe(r["variant"], r["batch_size"], r["padding"], r["mode"], r.get("effective_batch")),
                j,
                float(r["request_p50_ms"]),
                float(r["request_p95_ms"]),
                label,
                math.nan if pd.isna(r.get("traffic_rps")) else float(r["traffic_rps"]),
            )
        )
    if not out:
        log.warning("routing: no device has a qualifying answer: the schedule has no rows")
    return out


def energy_per_request(energy_stats: pd.DataFrame | None, cell: Mapping[str, Any]) -> tuple[float, float, float, str]:
    """J per inference (gross), latency p50 and p95 proxy (ms) of the configured measured cell, or the
    values the config gives directly (labelled ``given``)."""
    if energy_is_given(cell):
        return float(cell["j_per_request"]), float(cell["latency_p50_ms"]), float(cell["latency_p95_ms"]), "given"
    e = energy_stats
    for key in ("variant", "batch_size", "padding", "mode"):
        e = e[e[key] == cell[key]]
    if cell.get("device"):
        e = e[e.device == cell["device"]]
    j = e[e.metric == "j_per_inf_gross"].dropna(subset=["mean"])
    lat = e[e.metric == "latency_p50_ms"]
    lat95 = e[e.metric == "latency_p95_ms"]
    if lat.empty or lat95.empty:
        raise ValueError(f"carbon.schedule.energy cell {dict(cell)} was not measured: is it in the study?")
    if j.empty:  # latency measured, energy not (no working meter): routing and SLOs still hold, grams do not
        log.warning("no energy value for the served cell %s: gCO2e are unavailable, latency results stand", dict(cell))
        return float("nan"), float(lat["mean"].iloc[0]), float(lat95["mean"].iloc[0]), "unavailable"
    # a request's inference latency at this batch size is the batch latency
    return (
        float(j["mean"].iloc[0]),
        float(lat["mean"].iloc[0]),
        float(lat95["mean"].iloc[0]),
        str(j["energy_label"].iloc[0]),
    )


def served_cells(cell: Any, energy_stats: pd.DataFrame | None, answer: pd.DataFrame | None) -> list[Served]:
    """Every configuration the simulation serves under ``carbon.schedule.energy`` = ``cell``."""
    if serves_answer(cell):
        if answer is None:
            raise ValueError(
                "carbon.schedule.energy: answer needs the answer table (the served cell: results/carbon/served.parquet)"
            )
        return from_answer(answer)
    j, p50, p95, label = energy_per_request(energy_stats, cell)
    if energy_is_given(cell):
        return [Served(None, None, f"given: {j:.4g} J/request, p50 {p50:.4g} ms, p95 {p95:.4g} ms", j, p50, p95, label)]
    model = None
    if energy_stats is not None and "model" in energy_stats:
        matched = energy_stats
        for key in ("variant", "batch_size", "padding", "mode", "device"):
            if cell.get(key) is not None and key in matched:
                matched = matched[matched[key] == cell[key]]
        model = str(matched["model"].iloc[0]) if len(matched) else None
    text = describe(cell["variant"], cell["batch_size"], cell["padding"], cell["mode"])
    return [Served(cell.get("device"), model, text, j, p50, p95, label)]


def warn_if_other_traffic(served: Served, requests_per_hour: float, scenario: str = "") -> bool:
    """Warn (and say True) where the answer was chosen at a traffic more than 10% off the scenario's: its
    batch size, batch wait and latency belong to the answer's traffic, not the routed one."""
    if not math.isfinite(served.traffic_rps) or math.isclose(served.traffic_rps * 3600, requests_per_hour, rel_tol=0.1):
        return False
    log.warning(
        "schedule %s: the answer on %s was chosen at %.3g requests/s, the scenario routes %.3g requests/s "
        "(carbon.schedule.mean_requests_per_hour): its batch wait and latency are the answer's",
        scenario,
        served.device,
        served.traffic_rps,
        requests_per_hour / 3600,
    )
    return True
