"""Batch latency against throughput, small multiples per variant family, and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import (
    _empty,
    _fig_legend,
    _figure,
    _g,
    _grid,
    _groups,
    _legend_handles,
    _log_axis,
    _metric,
    _panel_title,
    highlighted,
    main_setting,
)
from greenbench.report.figures.figure import ENERGY, Figure, register_figure


def fig_latency(energy: pd.DataFrame, front: pd.DataFrame):
    """Batch latency p50 against throughput, one line per variant through its batch sizes; one panel
    per variant family (the family in colour, the baseline black, every other variant muted)."""
    lat = _metric(energy, "latency_p50_ms")
    thr = _metric(energy, "throughput_per_s")
    keys = ["device", "model", "variant", "batch_size", "padding", "mode"]
    df = (
        lat.set_index(keys)[["mean"]]
        .rename(columns={"mean": "latency"})
        .join(thr.set_index(keys)[["mean"]].rename(columns={"mean": "throughput"}), how="inner")
        .dropna()
        .reset_index()
    )
    if df.empty:
        fig, axes = _figure(style.SINGLE, 1.6)
        _empty(axes[0, 0], "no measured cells")
        return fig
    setting = main_setting(df)
    df = df[(df.padding == setting[0]) & (df["mode"] == setting[1])]
    df = df[df.device == sorted(set(df.device))[0]]
    device = df.device.iloc[0]
    variants = style.ordered(df.variant)
    looks = style.looks(variants)
    hi = highlighted(front)
    fams = _groups(variants)
    rows, cols = _grid(len(fams), 3)
    fig, axes = _figure(style.DOUBLE, 0.9 + 1.6 * rows, rows, cols, sharex=True, sharey=True)
    for ax, fam in zip(axes.flat, fams):
        for v, g in df.groupby("variant"):
            g = g.sort_values("batch_size")
            mine = style.group(v) == fam or v == style.REFERENCE_VARIANT
            if not mine:
                ax.plot(g.throughput, g.latency, color=style.MUTED, linewidth=0.7, zorder=1)
                continue
            lk = looks[v]
            ax.plot(
                g.throughput,
                g.latency,
                color=lk.color,
                marker=lk.marker,
                linestyle=lk.linestyle,
                fillstyle=lk.fillstyle,
                linewidth=1.6 if v in hi else 1.0,
                markersize=3.5,
                zorder=3,
            )
        _panel_title(ax, fam)
        _log_axis(ax, "x")
        _log_axis(ax, "y")
    for ax in axes.flat[len(fams) :]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("throughput (inferences/s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("batch latency p50 (ms)")
    _fig_legend(fig, _legend_handles(variants, looks, hi), ncol=4)
    fig.suptitle(
        f"{device}, {setting[0]} padding, {setting[1]}: each line runs through batch sizes "
        f"{', '.join(map(str, sorted(set(df.batch_size))))}",
        fontsize=7,
    )
    return fig


WHAT = {
    "latency_vs_throughput": "Batch latency (p50) against throughput, one line per variant through its batch sizes; "
    "small multiples per variant family (the family in colour, fp32 black, the rest grey).",
}


def _cap_latency(d):
    e = d["energy"]
    lat = _metric(e, "latency_p50_ms")
    thr = _metric(e, "throughput_per_s")
    nums = []
    if len(lat):
        b1 = lat[lat.batch_size == lat.batch_size.min()]
        r = b1.loc[b1["mean"].idxmin()]
        nums.append(f"lowest p50 latency at batch {r.batch_size}: {r.variant} {_g(r['mean'])} ms on {r.device}")
    if len(thr):
        r = thr.loc[thr["mean"].idxmax()]
        nums.append(
            f"highest throughput: {r.variant} at batch {r.batch_size}, {_g(r['mean'])} inferences/s on {r.device}"
        )
        nums.append(f"{thr.groupby(['device', 'variant', 'batch_size', 'padding', 'mode']).ngroups} measured cells")
    return WHAT["latency_vs_throughput"], nums


register_figure(
    Figure(
        "latency_vs_throughput",
        20,
        lambda d: fig_latency(d["energy"], d["front"]),
        _cap_latency,
        WHAT["latency_vs_throughput"],
        (ENERGY, "latency"),
    )
)
