"""Carbon panels (``ax`` functions, drawn by ``_single``): forecasts against the actual trace, MAPE
and skill by lead, the carbon-aware scheduler's front; and their captions."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from greenbench.report.figures.common import MARKERS, _empty, _g, _ref_line, _single
from greenbench.report.figures.figure import CARBON, Figure, register_figure
from greenbench.report import style


def forecast_vs_actual(forecasts: pd.DataFrame, ax) -> None:
    if forecasts.empty:
        return _empty(ax, "no forecasts")
    zone = sorted(forecasts.zone.unique())[0]
    f = forecasts[(forecasts.zone == zone) & (forecasts.lead_h <= 24)].copy()
    f["timestamp"] = f["origin"] + pd.to_timedelta(f["lead_h"] - 1, unit="h")
    first = f.timestamp.min()
    f = f[f.timestamp < first + pd.Timedelta(days=7)]
    actual = f[f.model == f.model.iloc[0]].sort_values("timestamp")
    ax.plot(actual.timestamp, actual.actual, color="black", linewidth=1.4, label="actual")
    for (ls, color), model in zip(
        [("--", "#0072B2"), (":", "#D55E00"), ("-.", "#009E73")], ["tcn", "seasonal_naive_24h", "ridge"]
    ):
        m = f[f.model == model].sort_values("timestamp")
        if m.empty:
            continue
        ax.plot(m.timestamp, m.forecast, color=color, linestyle=ls, linewidth=1, label=model)
        if model == "tcn":
            # an adaptive interval is unbounded (inf) where its pool cannot resolve the level: leave a gap
            finite = np.isfinite(m.low.to_numpy(float)) & np.isfinite(m.high.to_numpy(float))
            ax.fill_between(
                m.timestamp,
                m.low.where(finite),
                m.high.where(finite),
                where=finite,
                color="#0072B2",
                alpha=0.15,
                linewidth=0,
                label="tcn interval",
            )
    ax.set_ylabel(f"{zone} carbon intensity (gCO2e/kWh)")
    ax.set_xlabel("time (UTC, day-ahead forecasts)")
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.DayLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def mape_by_lead(metrics: pd.DataFrame, ax) -> None:
    if metrics.empty:
        return _empty(ax, "no forecast metrics")
    m = metrics.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    colors = itertools.cycle(["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"])
    for style_, (model, g) in zip(itertools.cycle(["-", "--", ":", "-."]), m.groupby("model")):
        ax.plot(g.lead_h, g.mape, color=next(colors), linestyle=style_, label=model)
    ax.set_xlabel("lead time (h)")
    ax.set_ylabel("MAPE (%), mean over zones")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def forecast_skill(metrics: pd.DataFrame, ax) -> None:
    """Skill of the selected forecaster (1 - MAPE/MAPE of 'same hour yesterday') by lead, per zone."""
    from greenbench.carbon.forecasting import SELECTED, skill_by_lead

    if metrics.empty or SELECTED not in set(metrics.model):
        return _empty(ax, "no selected forecaster in the metrics")
    skill = skill_by_lead(metrics)
    skill = skill[skill.model == SELECTED]
    colors = itertools.cycle(["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"])
    for ls, (zone, g) in zip(itertools.cycle(["-", "--", ":", "-."]), skill.groupby("zone")):
        ax.plot(g.lead_h, g.skill, color=next(colors), linestyle=ls, linewidth=1, label=zone)
    _ref_line(ax, 0.0, vertical=False)
    ax.set_xlabel("lead time (h)")
    ax.set_ylabel("skill vs seasonal-naive 24 h\n(1 − MAPE ratio, unitless)")
    ax.set_title("selected forecaster (validation-fit stack per zone)", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def scheduler_front(schedule: pd.DataFrame, ax) -> None:
    if schedule.empty:
        return _empty(ax, "no schedule results")
    from matplotlib.lines import Line2D

    palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
    handles, markers = [], {}
    for color, (scenario, s) in zip(itertools.cycle(palette), schedule.groupby("scenario", sort=False)):
        w = s[s.policy == "weighted"].sort_values("weight")
        ax.plot(w.latency_p95_ms, w.g_per_1000_requests, color=color, linestyle="--", marker=".")
        handles.append(
            Line2D([], [], color=color, linestyle="--", marker=".", label=f"{scenario or 'scenario'}: weighted sweep")
        )
        for _, r in s[s.policy != "weighted"].iterrows():
            marker = markers.setdefault(r.policy, MARKERS[len(markers) % len(MARKERS)])
            ax.plot(r.latency_p95_ms, r.g_per_1000_requests, marker=marker, color=color, fillstyle="none", linestyle="")
    handles += [
        Line2D([], [], marker=m, color="black", fillstyle="none", linestyle="", label=p) for p, m in markers.items()
    ]
    ax.set_xlabel("latency p95 (ms)")
    ax.set_ylabel(f"gCO2e per 1,000 requests\n({schedule.energy_label.iloc[0]} energy)")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


WHAT = {
    "forecast_vs_actual": "Day-ahead carbon-intensity forecasts against the actual trace over the first week of the "
    "test period, with the TCN's rolling split-conformal interval.",
    "forecast_mape_by_lead": "Forecast error (MAPE, mean over zones) by lead time for every forecaster.",
    "forecast_skill": "Skill of the selected forecaster against the seasonal-naive 24 h baseline by lead time, per "
    "zone (above 0: better than 'same hour yesterday').",
    "scheduler_front": "The carbon-aware router's carbon–latency trade-off per scenario: the weighted policy's "
    "sweep (dashed) and each fixed policy (markers), gCO2e per 1,000 requests against p95 latency.",
}


def _cap_forecast(d):
    f = d["forecasts"]
    if f.empty:
        return WHAT["forecast_vs_actual"], []
    zone = sorted(f.zone.unique())[0]
    g = f[(f.zone == zone) & (f.lead_h <= 24)]
    nums = [f"zone {zone}, leads 1–24 h, {g.origin.nunique()} forecast origins"]
    for model, m in g.groupby("model"):
        mape = float((100 * (m.forecast - m.actual).abs() / m.actual.abs()).mean())
        nums.append(f"{model}: MAPE {mape:.1f}% over the test period")
    return WHAT["forecast_vs_actual"], nums


def _cap_mape(d):
    m = d["forecast_metrics"]
    if m.empty:
        return WHAT["forecast_mape_by_lead"], []
    t = m.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    nums = []
    for model, g in t.groupby("model"):
        first, last = g.loc[g.lead_h.idxmin()], g.loc[g.lead_h.idxmax()]
        nums.append(f"{model}: {first.mape:.1f}% at {first.lead_h} h, {last.mape:.1f}% at {last.lead_h} h")
    return WHAT["forecast_mape_by_lead"], nums


def _cap_skill(d):
    from greenbench.carbon.forecasting import SELECTED, skill_by_lead

    m = d["forecast_metrics"]
    if m.empty or SELECTED not in set(m.model):
        return WHAT["forecast_skill"], ["no selected forecaster in the metrics"]
    s = skill_by_lead(m)
    s = s[s.model == SELECTED]
    return WHAT["forecast_skill"], [
        f"{zone}: mean skill {g.skill.mean():+.3f} over leads {g.lead_h.min()}–{g.lead_h.max()} h"
        for zone, g in s.groupby("zone")
    ]


def _cap_schedule(d):
    s = d["schedule"]
    if s.empty:
        return WHAT["scheduler_front"], []
    nums = []
    for scenario, g in s.groupby("scenario", sort=False):
        fixed = g[g.policy != "weighted"].drop_duplicates("policy").set_index("policy")
        nums.append(
            f"{scenario}: "
            + ", ".join(
                f"{p} {_g(r.g_per_1000_requests, 4)} g at p95 {_g(r.latency_p95_ms)} ms" for p, r in fixed.iterrows()
            )
        )
    return WHAT["scheduler_front"], nums


register_figure(
    Figure(
        "forecast_vs_actual",
        70,
        lambda d: _single(forecast_vs_actual, d["forecasts"]),
        _cap_forecast,
        WHAT["forecast_vs_actual"],
        (CARBON, "forecasting"),
    )
)
register_figure(
    Figure(
        "forecast_mape_by_lead",
        80,
        lambda d: _single(mape_by_lead, d["forecast_metrics"], size=(style.SINGLE * 1.5, 2.2)),
        _cap_mape,
        WHAT["forecast_mape_by_lead"],
        (CARBON, "forecasting"),
    )
)
register_figure(
    Figure(
        "forecast_skill",
        90,
        lambda d: _single(forecast_skill, d["forecast_metrics"], size=(style.SINGLE * 1.5, 2.4)),
        _cap_skill,
        WHAT["forecast_skill"],
        (CARBON, "forecasting"),
    )
)
register_figure(
    Figure(
        "scheduler_front",
        100,
        lambda d: _single(scheduler_front, d["schedule"], size=(style.DOUBLE, 2.8)),
        _cap_schedule,
        WHAT["scheduler_front"],
        (CARBON, "routing"),
    )
)
