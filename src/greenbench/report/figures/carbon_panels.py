"""Forecast panels (``ax`` functions, drawn by ``_single``): forecasts against the actual trace, MAPE
and skill by lead, with the router's own forecaster (carbon.schedule.forecaster, recorded in the schedule
table) emphasised; and their captions. The scheduler's front is ``scheduler``."""

from __future__ import annotations

import itertools
from functools import partial

import numpy as np
import pandas as pd

from greenbench.report.figures.common import _empty, _ref_line, _single
from greenbench.report.figures.figure import CARBON, Figure, register_figure
from greenbench.report import style


NAIVE = "seasonal_naive_24h"  # the baseline every forecaster is judged against: the same hour yesterday
NAMES = {
    "seasonal_naive_24h": "naive 24 h (same hour yesterday)",
    "seasonal_naive_168h": "naive 168 h (same hour last week)",
    "selected": "selected (validation-fit stack)",
    "tcn": "TCN",
    "ridge+tcn": "ridge + TCN mean",
}
ROUTER_COLOR, NAIVE_COLOR, BEST_COLOR, OTHER_COLOR = "#D55E00", "#000000", "#0072B2", "#b4b4b4"


def forecaster_label(model: str, router: str | None = None) -> str:
    """A forecaster as a reader says it; the router's own one is marked ``(router's)``."""
    text = NAMES.get(model, str(model).replace("_", " "))
    return text + (" — the router's" if router is not None and model == router else "")


def router_forecaster(data: dict) -> str:
    """The forecaster whose forecasts the router uses (carbon.schedule.forecaster, recorded in every
    schedule row), ``selected`` when no schedule was simulated."""
    from greenbench.carbon.stacking import SELECTED

    s = data.get("schedule")
    if s is not None and not s.empty and "forecaster" in s and s.forecaster.notna().any():
        return str(s.forecaster.dropna().iloc[0])
    return SELECTED


def best_single(mape: pd.DataFrame, exclude=()) -> str | None:
    """The base forecaster with the lowest mean MAPE (``mape``: model, mape), not a combination nor the
    selected stack nor one of ``exclude``."""
    from greenbench.carbon.stacking import COMBINATIONS, SELECTED

    m = mape[~mape.model.isin({SELECTED, *COMBINATIONS, *exclude})]
    if m.empty:
        return None
    means = m.groupby("model")["mape"].mean()
    return str(means.idxmin())


def emphasised(mape: pd.DataFrame, router: str) -> dict[str, tuple[str, str, float]]:
    """The forecasters a reader compares (model -> colour, line style, width): the router's own, the
    naive 24 h baseline and the best single model; the rest are drawn thin and grey."""
    out = {}
    models = set(mape.model)
    if router in models:
        out[router] = (ROUTER_COLOR, "-", 1.8)
    if NAIVE in models and NAIVE not in out:
        out[NAIVE] = (NAIVE_COLOR, "--", 1.1)
    best = best_single(mape, exclude=(router, NAIVE))
    if best is not None:
        out[best] = (BEST_COLOR, "-.", 1.1)
    return out


def forecast_vs_actual(forecasts: pd.DataFrame, ax, router: str = "selected") -> None:
    """The first zone's day-ahead forecasts over the first test week: the actual trace, the router's own
    forecaster (bold, with its interval), the naive 24 h baseline and the best single model."""
    if forecasts.empty:
        return _empty(ax, "no forecasts")
    zone = sorted(forecasts.zone.unique())[0]
    f = forecasts[(forecasts.zone == zone) & (forecasts.lead_h <= 24)].copy()
    f["timestamp"] = f["origin"] + pd.to_timedelta(f["lead_h"] - 1, unit="h")
    first = f.timestamp.min()
    f = f[f.timestamp < first + pd.Timedelta(days=7)]
    actual = f[f.model == f.model.iloc[0]].sort_values("timestamp")
    f["mape"] = 100 * (f.forecast - f.actual).abs() / f.actual.abs()
    ax.plot(actual.timestamp, actual.actual, color="black", linewidth=1.0, label="actual", zorder=3)
    looks = emphasised(f[["model", "mape"]], router)
    for model in sorted(looks, key=lambda m: m == router):  # the router's on top
        color, ls, width = looks[model]
        m = f[f.model == model].sort_values("timestamp")
        mine = model == router
        ax.plot(
            m.timestamp,
            m.forecast,
            color=color if not (model == NAIVE) else "0.45",
            linestyle=ls if not mine else "-",
            linewidth=width if mine else 0.9,
            label=forecaster_label(model, router),
            zorder=4 if mine else 2,
        )
        if mine:
            # an adaptive interval is unbounded (inf) where its pool cannot resolve the level: leave a gap
            finite = np.isfinite(m.low.to_numpy(float)) & np.isfinite(m.high.to_numpy(float))
            ax.fill_between(
                m.timestamp,
                m.low.where(finite),
                m.high.where(finite),
                where=finite,
                color=color,
                alpha=0.15,
                linewidth=0,
                label="the router's forecast interval",
            )
    ax.set_ylabel(f"{zone} carbon intensity (gCO2e/kWh)")
    ax.set_xlabel("time (UTC, day-ahead forecasts)")
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.DayLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))


def mape_by_lead(metrics: pd.DataFrame, ax, router: str = "selected") -> None:
    """MAPE (mean over zones) by lead: the router's forecaster, the naive 24 h baseline and the best single
    model in colour; every other forecaster thin and grey (one legend entry naming them)."""
    from matplotlib.lines import Line2D

    if metrics.empty:
        return _empty(ax, "no forecast metrics")
    m = metrics.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    looks = emphasised(m, router)
    others = [model for model in sorted(m.model.unique()) if model not in looks]
    for model in others:
        g = m[m.model == model]
        ax.plot(g.lead_h, g.mape, color=OTHER_COLOR, linewidth=0.6, zorder=1)
    handles = []
    for model, (color, ls, width) in sorted(looks.items(), key=lambda kv: kv[0] != router):
        g = m[m.model == model]
        ax.plot(g.lead_h, g.mape, color=color, linestyle=ls, linewidth=width, zorder=3)
        handles.append(
            Line2D([], [], color=color, linestyle=ls, linewidth=width, label=forecaster_label(model, router))
        )
    if others:
        names = "\n".join(forecaster_label(o) for o in others)
        handles.append(Line2D([], [], color=OTHER_COLOR, linewidth=0.6, label=f"others (thin grey):\n{names}"))
    lead_max = int(m.lead_h.max())
    if lead_max >= 48:
        ax.set_xticks(range(0, lead_max + 1, 24))
    ax.set_xlabel("lead time (h)")
    ax.set_ylabel("MAPE (%), mean over zones")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


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


WHAT = {
    "forecast_vs_actual": "Day-ahead carbon-intensity forecasts against the actual trace over the first week of the "
    "test period (first zone): the router's own forecaster (bold, with its rolling conformal interval), the naive "
    "'same hour yesterday' baseline and the best single model; does the forecast the router acts on follow the "
    "actual better than yesterday's values?",
    "forecast_mape_by_lead": "Forecast error (MAPE, mean over zones) by lead time. Only the forecasters a reader "
    "compares are in colour: the router's own (bold), the naive 24 h baseline every forecaster must beat, and the "
    "best single model; the others are thin grey lines, so the gap that matters (router's against naive) is "
    "readable where the lines bunch.",
    "forecast_skill": "Skill of the selected forecaster against the seasonal-naive 24 h baseline by lead time, per "
    "zone (above 0: better than 'same hour yesterday').",
}


def _cap_forecast(d):
    f = d["forecasts"]
    if f.empty:
        return WHAT["forecast_vs_actual"], []
    router = router_forecaster(d)
    zone = sorted(f.zone.unique())[0]
    g = f[(f.zone == zone) & (f.lead_h <= 24)]
    nums = [f"zone {zone}, leads 1–24 h, {g.origin.nunique()} forecast origins; the router uses {router}"]
    for model, m in g.groupby("model"):
        mape = float((100 * (m.forecast - m.actual).abs() / m.actual.abs()).mean())
        nums.append(f"{forecaster_label(model, router)}: MAPE {mape:.1f}% over the test period")
    return WHAT["forecast_vs_actual"], nums


def _cap_mape(d):
    m = d["forecast_metrics"]
    if m.empty:
        return WHAT["forecast_mape_by_lead"], []
    router = router_forecaster(d)
    t = m.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    looks = emphasised(t, router)
    nums = []
    for model in list(looks) + sorted(set(t.model) - set(looks)):
        g = t[t.model == model]
        first, last = g.loc[g.lead_h.idxmin()], g.loc[g.lead_h.idxmax()]
        nums.append(
            f"{forecaster_label(model, router)}: {first.mape:.1f}% at {first.lead_h} h, "
            f"{last.mape:.1f}% at {last.lead_h} h, mean {g.mape.mean():.1f}%"
        )
    if router in looks and NAIVE in looks:
        r, n = t[t.model == router].set_index("lead_h").mape, t[t.model == NAIVE].set_index("lead_h").mape
        better = (r < n.reindex(r.index)).mean()
        nums.append(f"{router} beats the naive 24 h baseline at {100 * better:.0f}% of the leads")
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


register_figure(
    Figure(
        "forecast_vs_actual",
        70,
        lambda d: _single(partial(forecast_vs_actual, router=router_forecaster(d)), d["forecasts"]),
        _cap_forecast,
        WHAT["forecast_vs_actual"],
        (CARBON, "forecasting"),
    )
)
register_figure(
    Figure(
        "forecast_mape_by_lead",
        80,
        lambda d: _single(
            partial(mape_by_lead, router=router_forecaster(d)), d["forecast_metrics"], size=(style.DOUBLE * 0.8, 2.6)
        ),
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
