"""Shared by the figures and their captions: the data selections (energy metric, main setting,
accuracy-energy points, highlighted variants), the drawing helpers on ``greenbench.report.style`` and the
caption number formats."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from greenbench.report import style

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">"]
J = "j_per_inf_gross"
REFERENCE = "reference"  # gid of guide lines (baseline values, zero lines): not data for the layout check


# ---- data selections shared by figures and captions -----------------------------------------------


def _metric(energy: pd.DataFrame, metric: str) -> pd.DataFrame:
    return energy[(energy.metric == metric) & energy["mean"].notna()]


def energy_label(df: pd.DataFrame) -> str:
    labels = sorted({str(x) for x in df.get("energy_label", pd.Series(dtype=str)).dropna()} - {"", "None"})
    return "+".join(labels) or "unavailable"


def main_setting(df: pd.DataFrame) -> tuple[str, str] | None:
    """The (padding, mode) with the most cells: figures compare variants at one setting."""
    if df.empty:
        return None
    counts = df.groupby(["padding", "mode"]).size().sort_values(ascending=False, kind="stable")
    return tuple(counts.index[0])


PARETO_COLUMNS = [
    "device",
    "model",
    "variant",
    "batch_size",
    "padding",
    "mode",
    "j",
    "j_low",
    "j_high",
    "energy_label",
    "accuracy",
    "acc_low",
    "acc_high",
    # paired against fp32: the accuracy difference on the same sentences (a fraction) with its paired
    # bootstrap interval and McNemar p, the J/inference ratio in the same cell by trial with its interval
    "delta",
    "delta_low",
    "delta_high",
    "mcnemar_p",
    "ratio",
    "ratio_low",
    "ratio_high",
    "p95_ms",
    "on_front",
    "on_uncertain_front",
]


def _cell_ratios(best: pd.DataFrame, j: pd.DataFrame, ratios: pd.DataFrame | None) -> pd.DataFrame:
    """Each chosen cell's J/inference ratio to fp32 in the same cell: from the paired ratios (geometric
    mean of the per-trial ratios and its interval) where there, else the ratio of the mean J/inference
    (no interval); fp32 is 1 with a zero-width interval."""
    keys = ["device", "model", "batch_size", "padding", "mode"]
    r = (ratios if ratios is not None else pd.DataFrame()).reindex(
        columns=keys + ["variant", "metric", "ratio", "ci_low", "ci_high"]
    )
    r = r[r.metric == J].drop(columns="metric").drop_duplicates(keys + ["variant"])
    out = best.merge(
        r.rename(columns={"ci_low": "ratio_low", "ci_high": "ratio_high"}), on=keys + ["variant"], how="left"
    )
    base = j[j.variant == style.REFERENCE_VARIANT].set_index(keys)["mean"]
    fallback = [
        jv / base.get(tuple(k), np.nan) for jv, k in zip(out["j"], out[keys].itertuples(index=False, name=None))
    ]
    out["ratio"] = out["ratio"].fillna(pd.Series(fallback, index=out.index))
    ref = out.variant == style.REFERENCE_VARIANT
    out.loc[ref, ["ratio", "ratio_low", "ratio_high"]] = 1.0
    return out


def pareto_table(energy: pd.DataFrame, accuracy: pd.DataFrame, ratios: pd.DataFrame | None = None) -> pd.DataFrame:
    """One point per (device, model, variant): its lowest-energy measured cell (batch, padding, mode),
    J/inference and accuracy with their 95% intervals, both also paired against fp32 (``PARETO_COLUMNS``),
    the cell's p95 latency, and whether it is on the front of the paired point estimates (accuracy
    difference, J ratio; the same front as of accuracy and J when the cells coincide) and on the
    uncertainty-aware front of the paired intervals (``greenbench.analysis.fronts``: not clearly
    dominated; fp32 exact, a point without an interval unbounded). A variant with no fp32 in its cell
    and no paired ratio is left out (nothing to place it against)."""
    from greenbench.analysis import pareto

    j = _metric(energy, J)
    acc = accuracy[accuracy.status == "ok"]
    if j.empty or acc.empty:
        return pd.DataFrame(columns=PARETO_COLUMNS)
    best = j.sort_values(["mean", "batch_size"], kind="stable").groupby(["device", "model", "variant"]).head(1)
    best = best.rename(columns={"mean": "j", "ci_low": "j_low", "ci_high": "j_high"})
    best = _cell_ratios(best, j, ratios)
    p95 = _metric(energy, "latency_p95_ms").set_index(["device", "model", "variant", "batch_size", "padding", "mode"])
    best["p95_ms"] = [
        p95["mean"].get(tuple(k), np.nan)
        for k in best[["device", "model", "variant", "batch_size", "padding", "mode"]].itertuples(
            index=False, name=None
        )
    ]
    a = acc.reindex(
        columns=["device", "model", "variant", "accuracy", "ci_low", "ci_high"]
        + ["delta_vs_fp32", "delta_ci_low", "delta_ci_high", "mcnemar_p"]
    ).rename(
        columns={
            "ci_low": "acc_low",
            "ci_high": "acc_high",
            "delta_vs_fp32": "delta",
            "delta_ci_low": "delta_low",
            "delta_ci_high": "delta_high",
        }
    )
    df = best.merge(a, on=["device", "model", "variant"], how="inner")
    base = acc[acc.variant == style.REFERENCE_VARIANT].set_index(["device", "model"])["accuracy"]
    unpaired = df.accuracy - [base.get((d, m), np.nan) for d, m in zip(df.device, df.model)]
    df["delta"] = df["delta"].astype(float).fillna(unpaired)
    ref = df.variant == style.REFERENCE_VARIANT
    df.loc[ref, ["delta", "delta_low", "delta_high"]] = 0.0
    df = df.dropna(subset=["ratio", "delta"])
    if df.empty:
        return pd.DataFrame(columns=PARETO_COLUMNS)
    parts = []
    for _, g in df.groupby(["device", "model"], sort=True):
        g = g.copy()
        g["on_front"] = pareto.pareto_front(g[["delta", "ratio"]].to_numpy(float), [1, -1])
        low, high = pareto.unbounded_where_missing(g[["delta_low", "ratio_low"]], g[["delta_high", "ratio_high"]])
        g["on_uncertain_front"] = pareto.uncertain_front(low, high, [1, -1])
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)[PARETO_COLUMNS]
    return out.sort_values(["device", "model", "j"]).reset_index(drop=True)


def highlighted(front: pd.DataFrame) -> set[str]:
    """The variants drawn in full colour in the small multiples: the baseline and the plain front."""
    return (
        {style.REFERENCE_VARIANT} | set(front.loc[front.on_front.astype(bool), "variant"])
        if not front.empty
        else {style.REFERENCE_VARIANT}
    )


def study_variants(accuracy: pd.DataFrame) -> list[str]:
    return style.ordered(accuracy.variant) if not accuracy.empty else []


# ---- drawing helpers ---------------------------------------------------------------------------------


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=7)
    ax.set_axis_off()


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw):
    import matplotlib.pyplot as plt

    style.apply()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", squeeze=False, **kw)
    return fig, axes


def _freeze(fig) -> None:
    """Fix the constrained layout, so text placed afterwards in display space stays where it was put."""
    fig.canvas.draw()
    fig.set_layout_engine("none")


def _log_axis(ax, which: str = "x") -> None:
    """Log scale with plain tick labels (0.01, 0.02, 0.05), not 10^-2 exponents."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _ref_line(ax, value: float, vertical: bool, **kw) -> None:
    kw = {"color": "0.35", "linewidth": 0.7, "linestyle": (0, (4, 2)), "zorder": 1, **kw}
    line = ax.axvline(value, **kw) if vertical else ax.axhline(value, **kw)
    line.set_gid(REFERENCE)


def _legend_handles(variants, looks, front=frozenset(), lines: bool = True):
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            color=looks[v].color,
            marker=looks[v].marker,
            fillstyle=looks[v].fillstyle,
            linestyle=looks[v].linestyle if lines else "",
            linewidth=1.6 if v in front else 1.0,
            markersize=4,
            label=looks[v].label + (" (front)" if v in front and v != style.REFERENCE_VARIANT else ""),
        )
        for v in variants
    ]


def _fig_legend(fig, handles, ncol: int) -> None:
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=max(1, ncol),
        handlelength=2.4,
        columnspacing=1.2,
        fontsize=6.2,
    )


def _panel_title(ax, text: str) -> None:
    ax.set_title(text, fontsize=7, loc="left")


def _bold_ticks(ax, variants, hi) -> None:
    for tick, v in zip(ax.get_yticklabels(), variants):
        if v in hi:
            tick.set_fontweight("bold")


def _ordered_unique(key, variants) -> list[str]:
    """``key`` of each variant in the style's order, each value once (first occurrence)."""
    return list(dict.fromkeys(key(v) for v in style.ordered(variants)))


def _families(variants) -> list[str]:
    return _ordered_unique(style.family, variants)


def _groups(variants) -> list[str]:
    return _ordered_unique(style.group, variants)


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _single(plot: Callable, *args, size=(style.DOUBLE, 2.6)):
    fig, axes = _figure(*size)
    plot(*args, axes[0, 0])
    return fig


# ---- caption number formats ---------------------------------------------------------------------------


def _g(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _ci(mean, low, high, digits: int = 3) -> str:
    return f"{_g(mean, digits)} [{_g(low, digits)}, {_g(high, digits)}]"


def _rst(text: str) -> str:
    return text.replace("*", r"\*").replace("`", r"\`").replace("|", r"\|")
