"""Lifecycle J per inference against deployment volume (an ``ax`` function) with each variant's
break-even against fp32 marked where it falls on the plotted range, and its caption."""

from __future__ import annotations

import math

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import _empty, _figure, _freeze, _g, _log_axis
from greenbench.report.figures.figure import ENERGY, Figure, register_figure
from greenbench.report.figures.layout import place_labels

BREAK_EVEN = "break_even"  # gid of the break-even markers


def short_n(n: float) -> str:
    """A deployment volume for a label: ``1.2k``, ``35M``, ``2.4G``."""
    if not math.isfinite(n):
        return "never"
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            v = n / div
            return f"{v:.0f}{unit}" if v >= 10 else f"{v:.2g}{unit}"
    return f"{n:.0f}"


def break_even_points(table: pd.DataFrame, curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each variant's cumulative energy crosses fp32's (``analysis.amortization`` table): rows with
    a finite, positive break-even N (0: cheaper from the first inference, never: no crossing), with the
    lifecycle J/inference there on fp32's curve (``y``) and whether N lies in the plotted range of
    ``curves`` (``shown``)."""
    cols = ["device", "model", "variant", "n", "n_low", "n_high", "y", "shown"]
    if table.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (device, model), g in table.groupby(["device", "model"], sort=True):
        base = g[g.variant == style.REFERENCE_VARIANT]
        if base.empty:
            continue
        base_build, base_j = float(base.build_j.iloc[0]), float(base.j_per_inf.iloc[0])
        if curves is not None and not curves.empty:
            span = curves[(curves.device == device) & (curves.model == model)].inferences
        else:
            span = pd.Series(dtype=float)
        lo, hi = (span.min(), span.max()) if len(span) else (math.nan, math.nan)
        for r in g[g.variant != style.REFERENCE_VARIANT].itertuples():
            n = float(r.break_even_n)
            if not (math.isfinite(n) and n > 0 and math.isfinite(base_build)):
                continue
            rows.append(
                {
                    "device": device,
                    "model": model,
                    "variant": r.variant,
                    "n": n,
                    "n_low": float(r.break_even_low),
                    "n_high": float(r.break_even_high),
                    # total energies are equal at N, so are their averages: on fp32's curve
                    "y": base_build / n + base_j,
                    "shown": bool(lo <= n <= hi),
                }
            )
    return pd.DataFrame(rows, columns=cols)


def amortization(curves: pd.DataFrame, ax, break_even: pd.DataFrame | None = None) -> list:
    """Lifecycle J per inference (fine-tune + build + N inferences, over N) against deployment volume;
    with the break-even table, a marker where each variant's line crosses fp32's (in the plotted range).
    Returns the label items ``(N, y, text, strong)`` for ``place_labels`` (once the figure is frozen)."""
    if curves.empty or curves.total_j.isna().all():
        _empty(ax, "no build energy or no measured J/inference (see results/stats/footprint.parquet)")
        return []
    c = curves.dropna(subset=["total_j"])
    looks = style.looks(c.variant)
    for (device, variant), g in sorted(c.groupby(["device", "variant"]), key=lambda kv: style.order_key(kv[0][1])):
        lk = looks[variant]
        base = variant == style.REFERENCE_VARIANT
        ax.plot(
            g.inferences,
            g.j_per_inference,
            linestyle=lk.linestyle,
            marker=lk.marker,
            markersize=2.5,
            fillstyle=lk.fillstyle,
            color=lk.color,
            linewidth=1.5 if base else 0.9,
            label=f"{lk.label} ({device})" if c.device.nunique() > 1 else lk.label,
        )
    points = break_even_points(break_even, c) if break_even is not None else break_even_points(pd.DataFrame())
    points = points[points.shown]
    items = []
    if not points.empty:
        ax.plot(
            points.n,
            points.y,
            linestyle="",
            marker="X",
            markersize=6.5,
            color="#B22222",
            markeredgecolor="white",
            markeredgewidth=0.4,
            zorder=6,
            gid=BREAK_EVEN,
            label="break-even vs FP32",
        )
        many = c.device.nunique() > 1
        for p in points.itertuples():
            text = f"{looks[p.variant].label if p.variant in looks else style.label(p.variant)} {short_n(p.n)}"
            items.append((p.n, p.y, text + (f" ({p.device})" if many else ""), False))
    ax.set_xscale("log")
    _log_axis(ax, "y")
    ax.set_xlabel("inferences served (deployment volume N)")
    ax.set_ylabel("J per inference, build included")
    ax.set_title("(fine-tune + build + N × measured J/inference) / N", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + (len(looks) > 12))
    return items


def fig_amortization(curves: pd.DataFrame, break_even: pd.DataFrame | None = None):
    """The amortization figure: curves, break-even markers, their labels placed where they cover nothing."""
    fig, axes = _figure(style.DOUBLE, 3.2)
    items = amortization(curves, axes[0, 0], break_even)
    if items:
        _freeze(fig)
        place_labels(axes[0, 0], items, fontsize=5.5)
    return fig


WHAT = {
    "amortization": "Lifecycle joules per inference (fine-tune + build + N measured inferences, over N) against "
    "deployment volume N, per variant. A red cross marks a variant's break-even against FP32: the volume from "
    "which its cumulative energy (build included) stays below FP32's, from the paired J/inference ratio; a "
    "variant without a cross is cheaper from the first inference, never pays back, or breaks even beyond the "
    "plotted range (the numbers below say which).",
}


def _cap_amortization(d):
    from greenbench.analysis.amortization import format_n

    c = d["curves"]
    if c.empty or c.total_j.isna().all():
        return WHAT["amortization"], ["no build energy or no measured J/inference"]
    c = c.dropna(subset=["total_j"])
    top = c[c.inferences == c.inferences.max()]
    best = top.loc[top.j_per_inference.idxmin()]
    small = c[c.inferences == c.inferences.min()]
    worst = small.loc[small.j_per_inference.idxmax()]
    nums = [
        f"at N = {int(best.inferences):,}: lowest {best.variant} {_g(best.j_per_inference)} J/inference ({best.device})",
        f"at N = {int(worst.inferences):,}: highest {worst.variant} {_g(worst.j_per_inference)} J/inference, build included",
    ]
    table = d.get("break_even", pd.DataFrame())
    if not table.empty:
        shown = break_even_points(table, c)
        for r in table[table.variant != style.REFERENCE_VARIANT].itertuples():
            where = shown[(shown.device == r.device) & (shown.model == r.model) & (shown.variant == r.variant)]
            note = "" if where.empty or bool(where.shown.iloc[0]) else " (beyond the plotted range)"
            nums.append(
                f"{r.variant} ({r.device}): break-even N {format_n(r.break_even_n)} "
                f"[{format_n(r.break_even_low)}, {format_n(r.break_even_high)}], {r.verdict}{note}"
            )
    return WHAT["amortization"], nums


register_figure(
    Figure(
        "amortization",
        120,
        lambda d: fig_amortization(d["curves"], d.get("break_even")),
        _cap_amortization,
        WHAT["amortization"],
        (ENERGY, "lifecycle"),
    )
)
