"""Carbon-aware routing simulation: hourly request streams from several origins, served in one
of several zones; policies from carbon-agnostic to the perfect-information oracle."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.carbon.served import (  # noqa: F401  (GIVEN_KEYS, energy_per_request: re-exported)
    GIVEN_KEYS,
    Served,
    energy_is_given,
    energy_per_request,
    served_cells,
    serves_answer,
    warn_if_other_traffic,
)
from greenbench.core import io
from greenbench.core.log import get_logger
from greenbench.core.registry import Registry

log = get_logger(__name__)
J_PER_KWH = 3.6e6

RESULT_SCHEMA = pa.schema(
    [
        ("scenario", pa.string()),
        ("device", pa.string()),  # the served configuration's device (None: values given in the config)
        ("model", pa.string()),
        ("served", pa.string()),  # e.g. "int8_dynamic@onnxruntime batch 1, dynamic, eager"
        ("policy", pa.string()),
        ("weight", pa.float64()),
        ("requests", pa.int64()),
        ("g_per_1000_requests", pa.float64()),
        ("latency_p95_ms", pa.float64()),
        ("slo_violations", pa.int64()),
        ("slo_violation_share", pa.float64()),
        ("gap_closed", pa.float64()),
        ("deferred_requests", pa.int64()),
        ("energy_j_per_request", pa.float64()),
        ("energy_label", pa.string()),
        ("forecaster", pa.string()),
        ("oracle_saving_pct", pa.float64()),
        ("mean_requests_per_hour", pa.float64()),  # the scenario's configured traffic
        ("reroutable_routes", pa.int64()),  # non-nearest routes within the SLO; 0: no spatial reroute
    ]
)


def scenario_config(carbon_cfg: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The schedule config of one scenario: ``carbon.schedule`` with the scenario's overrides (its
    serving ``zones``, by default every ``carbon.zones``). Requests still come from every origin in
    ``origin_shares``."""
    scenarios = carbon_cfg["schedule"]["scenarios"]
    if name not in scenarios:
        raise ValueError(f"unknown scenario '{name}': carbon.schedule.scenarios has {sorted(scenarios)}")
    over = scenarios[name] or {}
    zones = list(over.get("zones", carbon_cfg["zones"]))
    extra = [z for z in zones if z not in carbon_cfg["zones"]]
    if extra:
        raise ValueError(
            f"carbon.schedule.scenarios.{name}.zones: {extra} are not in carbon.zones (no traces or forecasts)"
        )
    base = {k: v for k, v in carbon_cfg["schedule"].items() if k != "scenarios"}
    return {**base, **{k: v for k, v in over.items() if k != "zones"}, "zones": zones, "scenario": name}


@dataclass
class Scenario:
    zones: list[str]
    hours: pd.DatetimeIndex
    requests: np.ndarray  # (hours, origins) interactive request counts (origins: origin_shares)
    deferrable: np.ndarray  # (hours, origins) deferrable request counts
    latency: np.ndarray  # (origins, zones) network RTT ms
    actual: np.ndarray  # (hours, zones) actual intensity g/kWh
    forecast: np.ndarray  # (hours, leads, zones) forecast issued at each hour for it and the next leads-1
    static_ci: np.ndarray  # (zones,) mean intensity of the training period
    slo_ms: float
    energy_j: float  # per request, PUE included
    inference_ms: tuple[float, float]  # lognormal (mu, sigma) of inference latency
    inference_p95_ms: float


def request_counts(
    hours: pd.DatetimeIndex, shares: np.ndarray, mean_rate: float, amplitude: float, rng: np.random.Generator
) -> np.ndarray:
    """Poisson counts with a diurnal rate peaking at 12:00 UTC."""
    rate = mean_rate * (1 + amplitude * np.sin(2 * np.pi * (np.asarray(hours.hour) - 6) / 24))
    return rng.poisson(rate[:, None] * shares[None, :])


def lognormal_from_percentiles(p50: float, p95: float) -> tuple[float, float]:
    mu = np.log(max(p50, 1e-6))
    sigma = max((np.log(max(p95, p50 * 1.0001)) - mu) / 1.6449, 1e-6)
    return float(mu), float(sigma)


def _choose(score: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """argmin of score over feasible zones; score (hours, zones), feasible (origins, zones) -> (hours, origins)."""
    masked = np.where(feasible[None, :, :], score[:, None, :], np.inf)
    return masked.argmin(axis=2)


@dataclass(frozen=True)
class Policy:
    """A routing policy. ``choose(scenario, feasible, weight)`` gives the zone index per (hour,
    origin) for interactive requests (``feasible``: (origins, zones), the zones whose RTT + inference
    p95 meet the SLO, the nearest always included). ``shifts`` says whether deferrable work waits for
    a greener hour, planned on the forecasts or on the actual intensities; ``oracle`` is the policy
    with perfect information its share of the gap is measured against; a ``swept`` policy runs once
    per carbon weight in ``carbon.schedule.weights``."""

    name: str
    choose: Callable[[Scenario, np.ndarray, float], np.ndarray]
    shifts: str | None = None  # None | "forecast" | "actual"
    oracle: str = "oracle"
    swept: bool = False


def _check(name: str, policy: Policy) -> str | None:
    return None if policy.shifts in (None, "forecast", "actual") else "shifts must be None, 'forecast' or 'actual'"


# policy name -> Policy: the built-ins below (in this order), then one module per added policy in
# greenbench.carbon.policies (found on first use)
POLICIES: Registry[Policy] = Registry("policy", "greenbench.carbon.policies", check=_check)


register_policy = POLICIES.register


def _nearest(sc: Scenario, feasible: np.ndarray, weight: float) -> np.ndarray:
    return np.broadcast_to(sc.latency.argmin(axis=1), (len(sc.hours), len(sc.latency))).copy()


def _static_greenest(sc: Scenario, feasible: np.ndarray, weight: float) -> np.ndarray:
    return _choose(np.broadcast_to(sc.static_ci, (len(sc.hours), len(sc.zones))), feasible)


def _forecast_greedy(sc: Scenario, feasible: np.ndarray, weight: float) -> np.ndarray:
    return _choose(sc.forecast[:, 0, :], feasible)  # the forecast issued at the hour, one hour ahead


def _actual_greedy(sc: Scenario, feasible: np.ndarray, weight: float) -> np.ndarray:
    return _choose(sc.actual, feasible)


def _weighted(sc: Scenario, feasible: np.ndarray, weight: float) -> np.ndarray:
    """Forecast intensity and RTT, each scaled to [0, 1], mixed by ``weight``; like every other policy it
    chooses among the zones that meet the SLO only (the weight trades carbon against latency within it)."""
    ci_norm = sc.forecast[:, 0, :] / np.nanmax(sc.forecast[:, 0, :])
    lat_norm = sc.latency / sc.slo_ms
    score = weight * ci_norm[:, None, :] + (1 - weight) * lat_norm[None, :, :]  # (hours, origins, zones)
    return np.where(feasible[None, :, :], score, np.inf).argmin(axis=2)


# Registration order is evaluation order (each policy's latency draws are seeded by its position).
register_policy(Policy("nearest", _nearest))
register_policy(Policy("static_greenest", _static_greenest))
register_policy(Policy("forecast_greedy", _forecast_greedy))
register_policy(Policy("oracle", _actual_greedy))
register_policy(Policy("temporal_shift", _forecast_greedy, shifts="forecast", oracle="oracle_shift"))
register_policy(Policy("oracle_shift", _actual_greedy, shifts="actual", oracle="oracle_shift"))
register_policy(Policy("weighted", _weighted, swept=True))


def assign(sc: Scenario, policy: str, weight: float = 0.5) -> np.ndarray:
    """Zone index per (hour, origin) for the interactive requests."""
    if policy not in POLICIES:
        raise ValueError(f"unknown policy '{policy}' (known: {', '.join(POLICIES.known())})")
    feasible = meets_slo(sc)
    feasible[np.arange(len(sc.latency)), sc.latency.argmin(axis=1)] = True  # the nearest zone is always allowed
    return POLICIES[policy].choose(sc, feasible, weight)


def defer(sc: Scenario, window_h: int, use_actual: bool) -> tuple[np.ndarray, np.ndarray]:
    """For deferrable work arriving at hour t: the (hour, zone) with the lowest intensity in [t, t+window],
    as known (oracle) or as forecast at t."""
    n = len(sc.hours)
    if not use_actual and sc.forecast.shape[1] < window_h + 1:
        raise ValueError(f"the forecasts reach {sc.forecast.shape[1]} h ahead; deferral needs {window_h + 1}")
    best_hour = np.empty(n, dtype=int)
    best_zone = np.empty(n, dtype=int)
    for t in range(n):
        end = min(n, t + window_h + 1)
        block = sc.actual[t:end] if use_actual else sc.forecast[t, : end - t]
        flat = int(np.argmin(block))
        best_hour[t], best_zone[t] = t + flat // block.shape[1], flat % block.shape[1]
    return best_hour, best_zone


def evaluate_policy(
    sc: Scenario, policy: str, rng: np.random.Generator, weight: float = float("nan"), window_h: int = 0
) -> dict[str, Any]:
    zone_idx = assign(sc, policy, 0.5 if np.isnan(weight) else weight)
    hours_i = np.arange(len(sc.hours))[:, None]
    ci_served = sc.actual[hours_i, zone_idx]  # (hours, origins)
    grams = (sc.requests * ci_served).sum() * sc.energy_j / J_PER_KWH
    total = int(sc.requests.sum())
    deferred = 0
    d_counts = sc.deferrable.sum(axis=1)  # deferrable per hour
    shifts = POLICIES[policy].shifts
    if shifts and window_h > 0:
        hour, zone = defer(sc, window_h, use_actual=(shifts == "actual"))
        grams += (d_counts * sc.actual[hour, zone]).sum() * sc.energy_j / J_PER_KWH
        deferred = int(d_counts[hour != np.arange(len(hour))].sum())
    else:  # deferrable work served like interactive work, at arrival
        grams += (sc.deferrable * ci_served).sum() * sc.energy_j / J_PER_KWH
    total += int(d_counts.sum())
    # latency of interactive requests: RTT + lognormal inference latency, sampled per request
    rtt = sc.latency[np.arange(sc.latency.shape[0])[None, :], zone_idx]  # (hours, origins)
    per_request_rtt = np.repeat(rtt.ravel(), sc.requests.ravel())
    latency = per_request_rtt + rng.lognormal(sc.inference_ms[0], sc.inference_ms[1], size=per_request_rtt.size)
    # the SLO is on each flow's p95 latency: a flow (hour, origin) served where RTT + inference p95
    # exceeds the SLO counts all its requests as violations
    violations = int(sc.requests[rtt + sc.inference_p95_ms > sc.slo_ms].sum())
    return {
        "policy": policy,
        "weight": weight,
        "requests": total,
        "g_per_1000_requests": 1000 * grams / total,
        "latency_p95_ms": float(np.percentile(latency, 95)) if latency.size else float("nan"),
        "slo_violations": violations,
        "slo_violation_share": violations / max(latency.size, 1),
        "deferred_requests": deferred,
    }


def build_scenario(
    traces: pd.DataFrame,
    forecasts: pd.DataFrame,
    energy_j: float,
    inference_p50_ms: float,
    inference_p95_ms: float,
    cfg: Mapping[str, Any],
    seed: int,
) -> Scenario:
    zones = list(cfg["zones"])
    start = pd.Timestamp(cfg["start"], tz="UTC")
    hours = pd.date_range(start, periods=int(cfg["days"]) * 24, freq="h")
    wide = traces.pivot(index="timestamp", columns="zone", values="ci")
    missing = [z for z in zones if z not in wide.columns]
    if missing:
        raise ValueError(f"carbon.schedule zones {missing} are not in the traces (carbon.zones)")
    actual = wide.reindex(hours)[zones].to_numpy(float)
    if np.isnan(actual).any():
        raise ValueError(f"traces do not cover the simulation window {hours[0]}..{hours[-1]}")
    train = wide[(wide.index >= pd.Timestamp(cfg["static_from"], tz="UTC")) & (wide.index < start)]
    f = forecasts[forecasts.model == cfg["forecaster"]]
    if f.empty:
        raise ValueError(f"forecaster '{cfg['forecaster']}' has no forecasts (carbon.schedule.forecaster)")
    leads = int(f.lead_h.max())
    issued = f.pivot_table(index="origin", columns=["lead_h", "zone"], values="forecast")
    cols = pd.MultiIndex.from_product([range(1, leads + 1), zones])
    issued = issued.reindex(index=hours, columns=cols)
    if issued.isna().any().any():
        raise ValueError(
            "the hourly forecasts do not cover the simulation window and zones; "
            "rerun forecast_carbon after changing carbon.schedule"
        )
    forecast = issued.to_numpy(float).reshape(len(hours), leads, len(zones))
    origins = list(cfg["origin_shares"])
    shares = np.array([float(cfg["origin_shares"][o]) for o in origins])
    if shares.sum() <= 0:
        raise ValueError("carbon.schedule.origin_shares must not all be zero")
    absent = [f"{o}.{z}" for o in origins for z in zones if z not in cfg["latency_ms"].get(o, {})]
    if absent:
        raise ValueError(f"carbon.schedule.latency_ms has no round-trip time for {absent} (origin.zone)")
    latency = np.array([[float(cfg["latency_ms"][o][z]) for z in zones] for o in origins])
    rng = np.random.default_rng(seed)
    counts = request_counts(
        hours, shares / shares.sum(), float(cfg["mean_requests_per_hour"]), float(cfg["diurnal_amplitude"]), rng
    )
    deferrable = rng.binomial(counts, float(cfg["deferrable_share"]))
    return Scenario(
        zones,
        hours,
        counts - deferrable,
        deferrable,
        latency,
        actual,
        forecast,
        train[zones].mean().to_numpy(float),
        float(cfg["slo_ms"]),
        energy_j * float(cfg["pue"]),
        lognormal_from_percentiles(inference_p50_ms, inference_p95_ms),
        float(inference_p95_ms),
    )


def simulate(sc: Scenario, cfg: Mapping[str, Any], seed: int) -> pd.DataFrame:
    rows = []
    for i, policy in enumerate(p.name for p in POLICIES.values() if not p.swept):
        rows.append(
            evaluate_policy(sc, policy, np.random.default_rng([seed, i]), window_h=int(cfg["deferral_window_h"]))
        )
    for policy in (p.name for p in POLICIES.values() if p.swept):
        for j, w in enumerate(cfg["weights"]):
            rows.append(evaluate_policy(sc, policy, np.random.default_rng([seed, 100 + j]), weight=float(w)))
    df = pd.DataFrame(rows)
    df["gap_closed"] = gap_closed(df)
    return df


def gap_closed(df: pd.DataFrame) -> np.ndarray:
    """Share of the static-greenest -> oracle gap a policy closes. Temporal shifting is compared
    with the oracle that may shift too; every other policy with the spatial oracle."""
    g = df.set_index("policy")["g_per_1000_requests"]
    static = g["static_greenest"]
    out = []
    for policy, value in zip(df.policy, df.g_per_1000_requests):
        oracle = g[POLICIES[policy].oracle if policy in POLICIES else "oracle"]
        gap = static - oracle
        out.append((static - value) / gap if gap > 0 else np.nan)
    return np.asarray(out)


def read_results(paths) -> pd.DataFrame:
    """Every scenario's results in one frame (a path or a list of paths); results written before
    scenarios had names get an empty ``scenario``."""
    paths = [paths] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__") else list(paths)
    frames = [io.read_parquet(p) for p in paths]
    return pd.concat([f if "scenario" in f else f.assign(scenario="") for f in frames], ignore_index=True)


def meets_slo(sc: Scenario) -> np.ndarray:
    """(origins, zones): the routes whose RTT + inference p95 meet the SLO (the nearest zone not forced in)."""
    return sc.latency + sc.inference_p95_ms <= sc.slo_ms


def reroutable_routes(sc: Scenario) -> int:
    """Origin -> zone routes other than the nearest whose RTT + inference p95 meet the SLO: 0 means the
    SLO blocks every spatial reroute (every spatial policy then serves from the nearest zone)."""
    feasible = meets_slo(sc)
    feasible[np.arange(len(sc.latency)), sc.latency.argmin(axis=1)] = False
    return int(feasible.sum())


# The served p95 times each of these (``p95_sensitivity``): how far the routing result moves with the one
# latency number that decides which reroutes meet the SLO (a measured p95 has noise; a given one may be rounded)
P95_SCALES = (0.9, 0.95, 1.0, 1.05, 1.1)
SENSITIVITY_COLUMNS = [
    "scale",  # the served p95 times this
    "latency_p95_ms",  # the inference p95 simulated (ms)
    "reroutable_routes",  # non-nearest routes within the SLO at that p95
    "origins_without_zone",  # origins where not even the nearest zone meets the SLO
    "oracle_saving_pct",  # the static-greenest -> oracle gap (%); NaN where the SLO leaves no reroute
    "policy",
    "g_per_1000_requests",
    "gap_closed",
    "slo_violations",
    "status",  # "" | why the row's gap is undefined or the SLO cannot hold
    "p95_unchanged_above_ms",  # the served p95 range (above, up_to] over which the same routes meet the SLO
    "p95_unchanged_up_to_ms",
]


def p95_unchanged_range(sc: Scenario) -> tuple[float, float]:
    """The inference p95 range ``(above, up_to]`` (ms) over which the same routes meet the SLO as at the
    served p95, so every policy routes, emits and violates exactly as it does there (only the sampled
    latency moves): ``above`` is the largest SLO - RTT of a route that misses it (at least 0), ``up_to``
    the smallest of a route that meets it (inf: none meets it)."""
    slack = sc.slo_ms - sc.latency
    meets = meets_slo(sc)
    return (
        max(float(slack[~meets].max()), 0.0) if (~meets).any() else 0.0,
        float(slack[meets].min()) if meets.any() else math.inf,
    )


def _status(reroutable: int, without_zone: int, origins: int) -> str:
    if without_zone == origins:
        return "no zone meets the SLO"
    notes = ["no reroute"] if reroutable == 0 else []
    if without_zone:
        notes.append(f"{without_zone} of {origins} origins have no zone within the SLO")
    return "; ".join(notes)


def p95_sensitivity(
    sc: Scenario, cfg: Mapping[str, Any], seed: int, scales: tuple[float, ...] = P95_SCALES
) -> pd.DataFrame:
    """How the routing result moves with the served p95: the scenario simulated again with its inference p95
    times each of ``scales`` (its p50, the requests, intensities, forecasts and seeds unchanged, so scale 1 is
    the result itself), every unswept policy. One row per scale and policy (``SENSITIVITY_COLUMNS``); where
    the SLO leaves no reroute the static -> oracle gap is NaN, not 0, and ``status`` says why (``no
    reroute``, or ``no zone meets the SLO`` when the p95 alone exceeds it: every request then violates it)."""
    p50 = float(np.exp(sc.inference_ms[0]))
    unswept = {**cfg, "weights": []}
    above, up_to = p95_unchanged_range(sc)
    frames = []
    for scale in scales:
        p95 = sc.inference_p95_ms * float(scale)
        at = replace(sc, inference_p95_ms=p95, inference_ms=lognormal_from_percentiles(p50, p95))
        df = simulate(at, unswept, seed)
        g = df.set_index("policy")["g_per_1000_requests"]
        reroutable = reroutable_routes(at)
        without_zone = int((~meets_slo(at).any(axis=1)).sum())
        df["scale"], df["latency_p95_ms"] = float(scale), p95
        df["reroutable_routes"], df["origins_without_zone"] = reroutable, without_zone
        df["oracle_saving_pct"] = 100 * (1 - g["oracle"] / g["static_greenest"]) if reroutable else math.nan
        df["status"] = _status(reroutable, without_zone, len(at.latency))
        df["p95_unchanged_above_ms"], df["p95_unchanged_up_to_ms"] = above, up_to
        frames.append(df[SENSITIVITY_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def sensitivity_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """``p95_sensitivity`` rows as strict JSON (NaN and inf as null), for the schedule file's metadata."""
    return [
        {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
        for row in table.to_dict("records")
    ]


def read_sensitivity(paths) -> pd.DataFrame:
    """Every scenario's p95 sensitivity table (recorded in its schedule file's metadata by ``run_schedule``)
    in one frame (nulls back to NaN, an unbounded ``p95_unchanged_up_to_ms`` to inf); empty for results
    written before it was recorded."""
    paths = [paths] if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__") else list(paths)
    frames = [pd.DataFrame(io.read_metadata(p).get("p95_sensitivity") or []) for p in paths]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    for col in SENSITIVITY_COLUMNS:
        if col not in ("policy", "status"):
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["p95_unchanged_up_to_ms"] = df["p95_unchanged_up_to_ms"].fillna(math.inf)
    return df


def simulate_served(traces: pd.DataFrame, forecasts: pd.DataFrame, served: Served, cfg: Mapping[str, Any], seed: int):
    """Every policy's results for one served configuration; returns (results, scenario)."""
    sc = build_scenario(traces, forecasts, served.j_per_request, served.p50_ms, served.p95_ms, cfg, seed)
    df = simulate(sc, cfg, seed)
    df.insert(0, "scenario", cfg.get("scenario", ""))
    df.insert(1, "device", served.device)
    df.insert(2, "model", served.model)
    df.insert(3, "served", served.served)
    df["energy_j_per_request"] = sc.energy_j
    df["energy_label"] = served.label
    df["forecaster"] = cfg["forecaster"]
    g = df.set_index("policy")["g_per_1000_requests"]
    # how much there is to gain over static-greenest at all: a tiny gap makes "share closed" noise
    df["oracle_saving_pct"] = 100 * (1 - g["oracle"] / g["static_greenest"])
    df["mean_requests_per_hour"] = float(cfg["mean_requests_per_hour"])
    df["reroutable_routes"] = reroutable_routes(sc)
    warn_if_other_traffic(served, float(cfg["mean_requests_per_hour"]), cfg.get("scenario", ""))
    if df["reroutable_routes"].iloc[0] == 0:
        log.warning(
            "schedule %s, %s: its p95 (%.1f ms) + any non-nearest RTT exceeds the SLO (%g ms): no spatial reroute",
            cfg.get("scenario", ""),
            served.served,
            served.p95_ms,
            sc.slo_ms,
        )
    return df, sc


def run_schedule(
    traces_path, forecasts_path, energy_stats_path, out, cfg: Mapping[str, Any], seed: int, answer_path=None
) -> pd.DataFrame:
    """Simulate every served configuration (``carbon.schedule.energy``: the answer's cell per device, a
    measured cell, or given values) under every policy; one row per (device, policy, weight)."""
    cell = cfg["energy"]
    stats = None if energy_is_given(cell) or serves_answer(cell) else io.read_parquet(energy_stats_path)
    answer = io.read_parquet(answer_path) if serves_answer(cell) else None
    traces, forecasts = io.read_parquet(traces_path), io.read_parquet(forecasts_path)
    frames, meta, p50, sensitivity = [], {}, {}, []
    for served in served_cells(cell, stats, answer):
        df, sc = simulate_served(traces, forecasts, served, cfg, seed)
        frames.append(df)
        sensitivity.append(
            p95_sensitivity(sc, cfg, seed).assign(
                scenario=cfg.get("scenario", ""), device=served.device, model=served.model, served=served.served
            )
        )
        meta = {"window": [str(sc.hours[0]), str(sc.hours[-1])], "zones": sc.zones, "slo_ms": sc.slo_ms}
        p50[served.device or ""] = served.p50_ms
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_SCHEMA.names)
    meta.update(
        {
            "pue": cfg["pue"],
            "deferral_window_h": int(cfg["deferral_window_h"]),  # the shifting policies' window (figure labels)
            "seed": seed,
            "served_from": "answer" if serves_answer(cell) else "config",
            "inference_latency_ms_p50": p50,  # per device ("" where the values are given)
            # how the result moves with the served p95 (p95_sensitivity): the report's sensitivity table
            "p95_sensitivity": sensitivity_records(pd.concat(sensitivity, ignore_index=True)) if sensitivity else [],
        }
    )
    io.write_parquet(df, out, RESULT_SCHEMA, meta)
    for s in sensitivity:
        log.info(
            "schedule %s, %s: served p95 x %s -> %s",
            cfg.get("scenario", ""),
            s["served"].iloc[0],
            P95_SCALES,
            s[s.policy == "forecast_greedy"][["latency_p95_ms", "oracle_saving_pct", "gap_closed", "status"]]
            .round(3)
            .to_dict("records"),
        )
    log.info(
        "schedule: %s",
        df[["device", "policy", "weight", "g_per_1000_requests", "gap_closed", "slo_violations"]]
        .round(3)
        .to_dict("records"),
    )
    return df
