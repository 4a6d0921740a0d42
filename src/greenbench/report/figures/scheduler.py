"""The carbon-aware router's carbon–latency front: every policy's gCO2e per 1,000 requests against its
p95 latency, the weighted policy's sweep as a dashed line, the latency SLO drawn; one panel per device
where the schedule table has a ``device`` column with several (one simulation per device). Policy names
read as words (``policy_label``). The SLO comes from the schedule Parquet's metadata (``slo_ms``, added
as a column by ``build.load``)."""

from __future__ import annotations

import itertools
import math

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import MARKERS, _empty, _fig_legend, _figure, _freeze, _g, _ref_line
from greenbench.report.figures.figure import CARBON, Figure, register_figure
from greenbench.report.figures.layout import place_labels

POLICY_LABELS = {
    "nearest": "nearest region",
    "static_greenest": "static greenest",
    "forecast_greedy": "forecast, greedy",
    "oracle": "oracle",
    "temporal_shift": "forecast + shift",
    "oracle_shift": "oracle + shift",
    "weighted": "weighted",
}
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
SWEEP = "weighted"


def policy_label(policy: str, weight: float = math.nan, window_h: float | None = None) -> str:
    """A policy as a reader says it: ``forecast_greedy`` -> ``forecast, greedy``, ``temporal_shift``
    with a 12 h window -> ``forecast + shift 12 h``, ``weighted`` at 0.5 -> ``weighted w=0.5``; an
    unknown policy keeps its name with spaces for underscores."""
    text = POLICY_LABELS.get(policy, str(policy).replace("_", " "))
    if "shift" in policy and window_h is not None and not pd.isna(window_h):
        text += f" {window_h:g} h"
    if weight is not None and not pd.isna(weight):
        text += f" w={weight:g}"
    return text


def devices(schedule: pd.DataFrame) -> list[str | None]:
    """The devices the schedule was simulated for (``[None]`` for a table without a device column)."""
    if "device" not in schedule or schedule.device.isna().all():
        return [None]
    return list(dict.fromkeys(schedule.device.dropna()))


def _window(s: pd.DataFrame):
    if "deferral_window_h" in s and s.deferral_window_h.notna().any():
        return float(s.deferral_window_h.dropna().iloc[0])
    return None


def slo_values(schedule: pd.DataFrame) -> dict[str, float]:
    """The p95 latency SLO of each scenario, where the table records it."""
    if "slo_ms" not in schedule:
        return {}
    s = schedule.dropna(subset=["slo_ms"])
    return {str(k): float(v) for k, v in s.groupby("scenario", sort=False)["slo_ms"].first().items()}


def scheduler_front(schedule: pd.DataFrame, ax) -> list:
    """One device's front on ``ax``; returns the legend handles (sweep per scenario, a marker per fixed
    policy, the SLO)."""
    from matplotlib.lines import Line2D

    if schedule.empty:
        _empty(ax, "no schedule results")
        return []
    handles, markers = [], {}
    scenarios = list(dict.fromkeys(schedule.scenario))
    for color, scenario in zip(itertools.cycle(PALETTE), scenarios):
        s = schedule[schedule.scenario == scenario]
        name = scenario or "scenario"
        w = s[s.policy == SWEEP].sort_values("weight")
        if not w.empty:
            ax.plot(w.latency_p95_ms, w.g_per_1000_requests, color=color, linestyle="--", marker=".", linewidth=0.9)
            lo, hi = w.weight.min(), w.weight.max()
            handles.append(
                Line2D([], [], color=color, linestyle="--", marker=".", label=f"{name}: weighted, w={lo:g} … {hi:g}")
            )
        elif len(scenarios) > 1:
            handles.append(Line2D([], [], color=color, linestyle="", marker="s", label=name))
        window = _window(s)
        for _, r in s[s.policy != SWEEP].iterrows():
            text = policy_label(r.policy, window_h=window)
            marker = markers.setdefault(text, MARKERS[len(markers) % len(MARKERS)])
            ax.plot(
                r.latency_p95_ms,
                r.g_per_1000_requests,
                marker=marker,
                color=color,
                fillstyle="none",
                linestyle="",
                markersize=5,
            )
    handles += [
        Line2D([], [], marker=m, color="black", fillstyle="none", linestyle="", label=p) for p, m in markers.items()
    ]
    slos = slo_values(schedule)
    for i, value in enumerate(dict.fromkeys(slos.values())):
        _ref_line(ax, value, vertical=True, color="#B22222", linestyle=(0, (1, 1.5)), linewidth=1.0)
        which = [k or "scenario" for k, v in slos.items() if v == value]
        suffix = f" ({', '.join(which)})" if len(set(slos.values())) > 1 else ""
        handles.append(
            Line2D([], [], color="#B22222", linestyle=(0, (1, 1.5)), label=f"p95 latency SLO {value:g} ms{suffix}")
        )
    ax.set_xlabel("latency p95 (ms)")
    label = schedule.energy_label.iloc[0] if "energy_label" in schedule else "unknown"
    ax.set_ylabel(f"gCO2e per 1,000 requests\n({label} energy)")
    return handles


def _panel_title(s: pd.DataFrame, device) -> str:
    served = ""
    if "served" in s and s.served.notna().any():
        served = f": serves {s.served.dropna().iloc[0]}"
    return f"{device}{served}" if device is not None else ""


def fig_scheduler_front(schedule: pd.DataFrame):
    """One panel per device (a single panel for a table without devices), a shared legend below."""
    if schedule.empty:
        fig, axes = _figure(style.DOUBLE, 1.6)
        _empty(axes[0, 0], "no schedule results")
        return fig
    devs = devices(schedule)
    fig, axes = _figure(style.DOUBLE if len(devs) > 1 else style.DOUBLE * 0.75, 3.1, 1, len(devs))
    handles = {}
    for ax, device in zip(axes.flat, devs):
        s = schedule if device is None else schedule[schedule.device == device]
        for h in scheduler_front(s, ax):
            handles.setdefault(h.get_label(), h)
        if title := _panel_title(s, device):
            ax.set_title(title, fontsize=7, loc="left")
    _fig_legend(fig, list(handles.values()), ncol=min(3, len(handles)))
    _freeze(fig)
    for ax, device in zip(axes.flat, devs):
        s = schedule if device is None else schedule[schedule.device == device]
        w = s[s.policy == SWEEP].sort_values("weight")
        # the sweep's ends, once per panel (the first scenario's), so the reader sees which end is which
        w = w[w.scenario == w.scenario.iloc[0]] if not w.empty else w
        if not w.empty:
            ends = (w.iloc[0], w.iloc[-1])
            place_labels(ax, [(r.latency_p95_ms, r.g_per_1000_requests, f"w={r.weight:g}", False) for r in ends], 5.5)
    return fig


WHAT = (
    "The carbon-aware router's carbon–latency trade-off: gCO2e per 1,000 requests against p95 latency for "
    "each fixed policy (open markers: nearest region, static greenest, forecast-greedy, oracle, and deferring "
    "batch work to a greener hour on the forecast or with perfect knowledge) and the weighted policy's sweep "
    "from latency only (w=0) to carbon only (w=1, dashed), per scenario; the dotted red line is the p95 "
    "latency SLO a flow must meet. Lower and further left is better; a policy right of the line misses the SLO."
)


def _cap_schedule(d):
    s = d["schedule"]
    if s.empty:
        return WHAT, []
    nums = []
    for device in devices(s):
        g_dev = s if device is None else s[s.device == device]
        slos = slo_values(g_dev)
        for scenario, g in g_dev.groupby("scenario", sort=False):
            window = _window(g)
            fixed = g[g.policy != SWEEP].drop_duplicates("policy")
            head = " ".join(x for x in (str(device) if device is not None else "", scenario) if x) or "schedule"
            slo = slos.get(str(scenario))
            text = f"{head}: " + "; ".join(
                f"{policy_label(r.policy, window_h=window)} {_g(r.g_per_1000_requests, 4)} g at p95 "
                f"{_g(r.latency_p95_ms)} ms"
                for r in fixed.itertuples()
            )
            if slo is not None:
                text += f"; SLO {slo:g} ms"
                sweep = g[(g.policy == SWEEP) & (g.latency_p95_ms <= slo)]
                if not sweep.empty:
                    best = sweep.loc[sweep.g_per_1000_requests.idxmin()]
                    text += (
                        f", lowest within it on the sweep: {policy_label(SWEEP, best.weight)} "
                        f"{_g(best.g_per_1000_requests, 4)} g"
                    )
            nums.append(text)
    return WHAT, nums


register_figure(
    Figure(
        "scheduler_front",
        100,
        lambda d: fig_scheduler_front(d["schedule"]),
        _cap_schedule,
        WHAT,
        (CARBON, "routing"),
    )
)
