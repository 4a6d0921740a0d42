"""Where and when to serve the answer: the routing simulation's savings against both baselines, in grams
per year at the scenario's traffic, beside what the study itself cost.

Two baselines: ``nearest`` (every request served in its nearest zone: carbon-agnostic) and
``static_greenest`` (always the zone with the lowest mean intensity that the SLO allows: no forecast
needed). A carbon-aware policy's saving against ``nearest`` mostly says "serve from the greenest region";
its saving against ``static_greenest`` is what the forecast itself adds (``forecast_greedy``: spatial,
``temporal_shift``: deferring the deferrable share too). Grams per year = g per 1,000 requests x the
scenario's mean requests per hour x 8,760 / 1,000; the study pays back its own footprint after
footprint / (saving per day against ``static_greenest``) days of serving ("never" when that saving is
not positive).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import pandas as pd

HOURS_PER_YEAR = 8760
BASELINES = ("nearest", "static_greenest")
FORECAST = ("forecast_greedy", "temporal_shift")  # the policies that act on the forecasts
SHIFTING = ("temporal_shift", "oracle_shift")  # they may defer work in time, which no SLO blocks
NAMES = {
    "nearest": "nearest",
    "static_greenest": "static greenest",
    "forecast_greedy": "forecast-greedy",
    "oracle": "oracle",
    "temporal_shift": "temporal shift",
    "oracle_shift": "shifting oracle",
}
GROUP = ["scenario", "device", "model"]


def study_footprint(footprint: pd.DataFrame | None) -> tuple[float | None, int]:
    """The study's own gCO2e (``results/stats/footprint.parquet``: the jobs whose energy is known, as
    ``greenbench.analysis.study_cost.to_markdown`` totals them) and how many jobs have no energy value
    (then the total is a lower bound)."""
    if footprint is None or footprint.empty:
        return None, 0
    known = footprint["energy_j"].notna() & footprint["co2e_g"].notna()
    return (float(footprint.loc[known, "co2e_g"].sum()) if known.any() else None), int((~known).sum())


def _saving_pct(value: float, base: float) -> float:
    return 100 * (1 - value / base) if base > 0 else math.nan


def _blocked(s: pd.DataFrame, g: pd.Series) -> bool:
    """The SLO allows no spatial reroute: the schedule's ``reroutable_routes`` is 0, or (older results)
    the spatial oracle serves exactly what the nearest zone does."""
    if "reroutable_routes" in s and s["reroutable_routes"].notna().any():
        return int(s["reroutable_routes"].dropna().iloc[0]) == 0
    return "oracle" in g and "nearest" in g and math.isclose(g["oracle"], g["nearest"], rel_tol=1e-12)


def where_and_when(
    schedule: pd.DataFrame | None,
    footprint_g: float | None = None,
    requests_per_hour: float | None = None,
) -> pd.DataFrame:
    """One row per scenario, device (and model) and unswept policy: gCO2e per 1,000 requests and per year,
    the saving against ``nearest`` and against ``static_greenest`` (% and g per year), whether the SLO
    blocks every spatial reroute, and the days of serving at that saving (against ``static_greenest``)
    that pay back ``footprint_g`` (inf: never; NaN: no footprint or no grams). ``requests_per_hour``:
    the traffic for results that do not record ``mean_requests_per_hour``."""
    if schedule is None or schedule.empty:
        return pd.DataFrame()
    df = schedule.copy()
    for col in GROUP + ["served"]:
        if col not in df:
            df[col] = ""
        df[col] = df[col].fillna("")
    if "weight" in df:
        df = df[df["weight"].isna()]  # the swept policy's rows are a front, not one policy
    rows = []
    for (scenario, device, model), s in df.groupby(GROUP, sort=False):
        g = s.drop_duplicates("policy").set_index("policy")["g_per_1000_requests"].astype(float)
        if not set(BASELINES) <= set(g.index):
            continue
        rate = (
            float(s["mean_requests_per_hour"].iloc[0])
            if "mean_requests_per_hour" in s and pd.notna(s["mean_requests_per_hour"].iloc[0])
            else requests_per_hour
        )
        per_year = HOURS_PER_YEAR * rate / 1000 if rate is not None else math.nan
        blocked = _blocked(s, g)
        for policy, value in g.items():
            vs_static_g = (g["static_greenest"] - value) * per_year
            if footprint_g is None or not vs_static_g == vs_static_g:
                payback = math.nan
            else:
                payback = footprint_g / (vs_static_g / 365) if vs_static_g > 0 else math.inf
            rows.append(
                {
                    "scenario": scenario,
                    "device": device,
                    "model": model,
                    "served": s["served"].iloc[0],
                    "energy_label": s["energy_label"].iloc[0] if "energy_label" in s else "",
                    "policy": policy,
                    "requests_per_hour": math.nan if rate is None else rate,
                    "g_per_1000_requests": value,
                    "g_per_year": value * per_year,
                    "saving_vs_nearest_pct": _saving_pct(value, g["nearest"]),
                    "saving_vs_static_pct": _saving_pct(value, g["static_greenest"]),
                    "saving_vs_nearest_g_per_year": (g["nearest"] - value) * per_year,
                    "saving_vs_static_g_per_year": vs_static_g,
                    "reroute_blocked": blocked,
                    "footprint_g": math.nan if footprint_g is None else footprint_g,
                    "payback_days": payback,
                }
            )
    return pd.DataFrame(rows)


def _num(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, thousands separated, no scientific notation below 1e9."""
    if x != x:
        return "n/a"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= digits - 1:
        return f"{round(x, -(magnitude - digits + 1)):,.0f}"
    return f"{x:.{digits}g}" if abs(x) >= 1e-4 else f"{x:.{digits - 1}e}"


def pct(saving: float, blocked: bool = False, spatial: bool = True) -> str:
    """ "78% less", "0.3% less", "2.1% more", "0% (the SLO allows no reroute)"."""
    if saving != saving:
        return "n/a"
    if abs(saving) < 1e-9:
        return "0% (the SLO allows no reroute)" if blocked and spatial else "0%"
    text = _num(abs(saving), 2) if abs(saving) < 10 else f"{abs(saving):.0f}"
    return f"{text}% {'less' if saving > 0 else 'more'}"


def days(d: float) -> str:
    if d != d:
        return "n/a"
    if math.isinf(d):
        return "never"
    if d < 1:
        return "within a day"
    text = f"{_num(d)} days"
    return text + f" (about {_num(d / 365, 2)} years)" if d >= 730 else text


def _bullet(r: pd.DataFrame) -> str:
    p = r.set_index("policy")
    first = p.iloc[0]
    where = f"**{first.scenario or 'scenario'}**" + (f", {first.device}" if first.device else "")
    served = f" (`{first.served}`" if first.served else " ("
    rate = f"{_num(first.requests_per_hour)} requests/h" if first.requests_per_hour == first.requests_per_hour else ""
    head = f"- {where}{served}{'; ' if first.served and rate else ''}{rate}"
    head += f"; energy {first.energy_label})" if first.energy_label not in ("", "measured") else ")"
    if not p["g_per_1000_requests"].notna().any():
        return head + ": gCO2e unavailable (the served cell has no energy value)."
    blocked = bool(first.reroute_blocked)
    shown = [x for x in ("nearest", "static_greenest", *FORECAST) if x in p.index]
    years = ", ".join(f"{NAMES.get(x, x)} {_num(p.loc[x, 'g_per_year'])}" for x in shown)
    parts = [f"{head}: gCO2e per year {years}."]
    forecast = [x for x in FORECAST if x in p.index]
    if forecast:
        parts.append(
            "Against nearest: "
            + ", ".join(
                f"{NAMES[x]} {pct(p.loc[x, 'saving_vs_nearest_pct'], blocked, x not in SHIFTING)}" for x in forecast
            )
            + "."
        )
        parts.append(
            "Against static greenest (the forecast's own share): "
            + ", ".join(
                f"{NAMES[x]} {pct(p.loc[x, 'saving_vs_static_pct'], blocked, x not in SHIFTING)}"
                + (
                    f" ({_num(p.loc[x, 'saving_vs_static_g_per_year'])} g/year)"
                    if abs(p.loc[x, "saving_vs_static_g_per_year"]) > 0
                    else ""
                )
                for x in forecast
            )
            + "."
        )
        if first.footprint_g == first.footprint_g:
            parts.append(
                f"Serving days that pay back the study's {_num(first.footprint_g)} gCO2e: "
                + ", ".join(f"{NAMES[x]} {days(p.loc[x, 'payback_days'])}" for x in forecast)
                + "."
            )
    if blocked:
        parts.append("The SLO allows no reroute (served p95 + every non-nearest RTT exceeds it).")
    return " ".join(parts)


def to_markdown_lines(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[str]:
    """One short bullet per scenario and device (``where_and_when``'s rows)."""
    rows = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if rows.empty:
        return []
    return [_bullet(r) for _, r in rows.groupby(GROUP, sort=False)]


def tables_section(schedule: pd.DataFrame | None, footprint: pd.DataFrame | None = None) -> list[str]:
    """The Markdown under tables.md's "Carbon-aware scheduling": the bullets and the table of savings
    against both baselines, per year, beside the study's footprint (``results/stats/footprint.parquet``)."""
    footprint_g, unavailable = study_footprint(footprint)
    rows = where_and_when(schedule, footprint_g)
    if rows.empty:
        return []
    note = (
        f" The study's footprint counts {unavailable} job(s) without an energy value as zero: a lower bound."
        if unavailable
        else ""
    )

    def column(baseline: str, field: str) -> list[str]:
        return [
            "baseline" if r.policy == baseline else pct(r[field], r.reroute_blocked, r.policy not in SHIFTING)
            for _, r in rows.iterrows()
        ]

    show = pd.DataFrame(
        {
            "scenario": rows.scenario,
            "device": rows.device,
            "policy": rows.policy,
            "gCO2e/year": [_num(v) for v in rows.g_per_year],
            "vs nearest": column("nearest", "saving_vs_nearest_pct"),
            "vs static greenest": column("static_greenest", "saving_vs_static_pct"),
            "saved vs static g/year": [_num(v) for v in rows.saving_vs_static_g_per_year],
            "pays back the study in": [
                "" if x in BASELINES else days(d) for x, d in zip(rows.policy, rows.payback_days)
            ],
        }
    )
    return [
        "### Savings against both baselines, per year, beside the study's own footprint",
        "",
        "Against nearest (carbon-agnostic) and against static greenest (the greenest zone on average that the "
        "SLO allows, no forecast); g per year at each scenario's mean requests per hour; payback = the study's "
        "gCO2e / the saving per day against static greenest." + note,
        "",
        *to_markdown_lines(rows),
        "",
        show.to_markdown(index=False),
        "",
    ]


SENSITIVITY_SHOWN = ("static_greenest", "forecast_greedy", "oracle", "temporal_shift")


def _range_ms(above: float, up_to: float) -> str:
    if math.isinf(up_to):
        return f"any served p95 above {_num(above)} ms"
    return f"a served p95 in ({_num(above)}, {_num(up_to)}] ms"


def _violations(p: pd.DataFrame) -> str:
    """One count where every shown policy has the same, else each policy's."""
    counts = {x: int(p.loc[x, "slo_violations"]) for x in SENSITIVITY_SHOWN if x in p.index}
    if len(set(counts.values())) <= 1:
        return f"{next(iter(counts.values()), 0):,}"
    return ", ".join(f"{NAMES.get(x, x)} {v:,}" for x, v in counts.items())


def sensitivity_section(table: pd.DataFrame | None) -> list[str]:
    """The Markdown under tables.md's "Carbon-aware scheduling" that says how the routing result moves with
    the served p95 (``greenbench.carbon.routing.p95_sensitivity``, recorded in each schedule file): per
    scenario and device, the p95 range over which the result holds unchanged, and one row per scale with
    the routes within the SLO, the static -> oracle gap, forecast-greedy's share of it, g per 1,000
    requests of the main policies and the SLO violations; a row whose gap is undefined says why."""
    if table is None or table.empty:
        return []
    df = table.copy()
    for col in GROUP + ["served"]:
        df[col] = df[col].fillna("") if col in df else ""
    bullets, rows = [], []
    for (scenario, device, model), s in df.groupby(GROUP, sort=False):
        first = s.iloc[0]
        head = f"**{scenario or 'scenario'}**" + (f", {device}" if device else "")
        served = f" (`{first.served}`)" if first.served else ""
        bullets.append(
            f"- {head}{served}: the same routes meet the SLO, so the grams, gaps and SLO violations above hold "
            "unchanged, for "
            f"{_range_ms(float(first.p95_unchanged_above_ms), float(first.p95_unchanged_up_to_ms))}."
        )
        for scale, at in s.groupby("scale", sort=True):
            p = at.drop_duplicates("policy").set_index("policy")
            r = at.iloc[0]
            closed = p.loc["forecast_greedy", "gap_closed"] if "forecast_greedy" in p.index else math.nan
            gap = r.oracle_saving_pct
            row = {
                "scenario": scenario,
                "device": device,
                "served p95 (ms)": f"{_num(float(r.latency_p95_ms))} (x{scale:g})",
                "reroutable routes": int(r.reroutable_routes),
                "static→oracle gap": "n/a" if gap != gap else f"{_num(gap, 2)}%",
                "forecast-greedy closes": "n/a" if closed != closed else f"{100 * closed:.0f}%",
            }
            for x in SENSITIVITY_SHOWN:
                if x in p.index:
                    row[f"g/1000 {NAMES[x]}"] = _num(float(p.loc[x, "g_per_1000_requests"]))
            row["SLO violations"] = _violations(p)
            row["note"] = r.status or ""
            rows.append(row)
    return [
        "### How the result moves with the served p95",
        "",
        "The served configuration's p95 latency decides which reroutes meet the SLO (RTT + p95 within it), so it "
        "decides the spatial result: each scenario simulated again with that p95 scaled (its p50, the requests, "
        "intensities, forecasts and random draws unchanged; x1 is the result above). Static→oracle gap: what the "
        "spatial oracle saves against static greenest (n/a: the SLO leaves no reroute); forecast-greedy closes: "
        "its share of that gap.",
        "",
        *bullets,
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
    ]
