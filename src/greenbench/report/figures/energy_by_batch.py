"""Gross J per inference per variant and batch size, small multiples, and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import (
    J,
    _bold_ticks,
    _ci,
    _empty,
    _figure,
    _g,
    _log_axis,
    _metric,
    _panel_title,
    _ref_line,
    energy_label,
    highlighted,
    main_setting,
)
from greenbench.report.figures.figure import ENERGY, Figure, register_figure


def fig_energy_by_batch(energy: pd.DataFrame, accuracy: pd.DataFrame, front: pd.DataFrame):
    """Gross J per inference per variant (95% CI), small multiples: one panel per batch size (columns)
    and device (rows); the baseline and the accuracy-energy front in colour, the rest muted."""
    e = _metric(energy, J)
    variants = style.ordered(set(accuracy.variant) | set(e.variant)) if not (accuracy.empty and e.empty) else []
    if e.empty:
        fig, axes = _figure(style.SINGLE, 1.6)
        _empty(axes[0, 0], "energy unavailable on this device (see the measurements' energy_label)")
        return fig
    looks = style.looks(variants)
    hi = highlighted(front)
    devices = sorted(set(e.device))
    batches = sorted(set(e.batch_size))
    height = 0.55 + len(devices) * (0.45 + 0.15 * len(variants))
    fig, axes = _figure(style.DOUBLE, height, len(devices), len(batches), sharey=True)
    y = {v: i for i, v in enumerate(variants)}
    status = {(r.device, r.variant): r.status for r in accuracy.itertuples()} if not accuracy.empty else {}
    for row, device in enumerate(devices):
        d = e[e.device == device]
        setting = main_setting(d)
        d = d[(d.padding == setting[0]) & (d["mode"] == setting[1])]
        lo, top = d.ci_low.fillna(d["mean"]).min(), d.ci_high.fillna(d["mean"]).max()
        for col, batch in enumerate(batches):
            ax = axes[row, col]
            g = d[d.batch_size == batch]
            for _, r in g.iterrows():
                lk = looks[r.variant]
                strong = r.variant in hi
                ax.errorbar(
                    [r["mean"]],
                    [y[r.variant]],
                    xerr=[[r["mean"] - r.ci_low], [r.ci_high - r["mean"]]],
                    marker=lk.marker,
                    color=lk.color if strong else style.MUTED,
                    markeredgecolor=lk.color,
                    markersize=4.2 if strong else 3.4,
                    linestyle="",
                    elinewidth=0.8,
                    zorder=3 if strong else 2,
                )
            base = g[g.variant == style.REFERENCE_VARIANT]
            if len(base):
                _ref_line(ax, float(base["mean"].iloc[0]), vertical=True)
            for v in variants:
                if v not in set(g.variant):
                    why = "not applicable" if status.get((device, v)) == "not_applicable" else "not measured"
                    ax.text(
                        0.03,
                        y[v],
                        why,
                        transform=ax.get_yaxis_transform(),
                        va="center",
                        fontsize=5.5,
                        color="0.4",
                        style="italic",
                    )
            _log_axis(ax, "x")
            ax.set_xlim(lo / 1.6, top * 1.25)
            ax.grid(axis="y", visible=False)
            _panel_title(ax, f"batch {batch}" + (f" · {device}" if len(devices) > 1 else ""))
            if row == len(devices) - 1:
                ax.set_xlabel(f"J per inference, gross ({energy_label(d)})")
        axes[row, 0].set_yticks(range(len(variants)), [looks[v].label for v in variants])
        axes[row, 0].set_ylim(len(variants) - 0.5, -0.5)
        _bold_ticks(axes[row, 0], variants, hi)
    pad, mode = main_setting(e)
    fig.suptitle(
        f"{pad} padding, {mode} · bold: the baseline and the accuracy–energy front; dashed line: fp32", fontsize=7
    )
    return fig


WHAT = {
    "energy_by_batch": "Gross joules per inference of every variant (95% interval over trials), one panel per batch "
    "size; the baseline and the accuracy–energy front in colour (bold labels), the rest muted; "
    "the dashed line is fp32 at that batch. Energy is labelled measured or estimated.",
}


def _cap_energy(d):
    j = _metric(d["energy"], J)
    nums = []
    for device, g in j.groupby("device"):
        setting = main_setting(g)
        g = g[(g.padding == setting[0]) & (g["mode"] == setting[1])]
        for batch, gb in g.groupby("batch_size"):
            best = gb.loc[gb["mean"].idxmin()]
            base = gb[gb.variant == style.REFERENCE_VARIANT]
            ratio = (
                f", {_g(best['mean'] / base['mean'].iloc[0], 3)}× fp32 ({_g(base['mean'].iloc[0])} J)"
                if len(base)
                else ""
            )
            nums.append(
                f"{device}, batch {batch}: lowest {best.variant} {_ci(best['mean'], best.ci_low, best.ci_high)} "
                f"J/inference ({best.energy_label}){ratio}"
            )
    return WHAT["energy_by_batch"], nums


register_figure(
    Figure(
        "energy_by_batch",
        30,
        lambda d: fig_energy_by_batch(d["energy"], d["accuracy"], d["front"]),
        _cap_energy,
        WHAT["energy_by_batch"],
        (ENERGY, "by variant and batch"),
    )
)
