"""Accuracy against energy with both fronts and placed labels, one panel per (device, model), and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import (
    _empty,
    _families,
    _fig_legend,
    _figure,
    _freeze,
    _g,
    _grid,
    _log_axis,
    _panel_title,
    energy_label,
)
from greenbench.report.figures.layout import place_labels
from greenbench.report.figures.figure import PARETO, Figure, register_figure


def fig_pareto(front: pd.DataFrame, accuracy: pd.DataFrame | None = None):
    """Accuracy against gross J/inference, one point per variant at its lowest-energy cell, 95% CI
    whiskers on both axes, the plain front (solid steps) and the uncertainty-aware front (ringed
    points), labels placed without overlap; one panel per (device, model)."""
    if front.empty:
        fig, axes = _figure(style.SINGLE, 1.6)
        _empty(axes[0, 0], "no accuracy-energy points (energy unavailable?)")
        return fig
    facets = list(front.groupby(["device", "model"], sort=True))
    rows, cols = _grid(len(facets), 2)
    n = front.groupby(["device", "model"]).size().max()
    fig, axes = _figure(style.DOUBLE, 1.0 + rows * max(2.6, 0.16 * n + 1.0), rows, cols)
    looks = style.looks(front.variant)
    from matplotlib.lines import Line2D

    for ax, ((device, model), g) in zip(axes.flat, facets):
        for _, r in g.iterrows():
            lk = looks[r.variant]
            ax.errorbar(
                [r.j],
                [r.accuracy],
                xerr=[[r.j - r.j_low], [r.j_high - r.j]],
                yerr=[[r.accuracy - r.acc_low], [r.acc_high - r.accuracy]],
                marker=lk.marker,
                color=lk.color,
                markersize=5 if r.on_front else 4,
                linestyle="",
                elinewidth=0.6,
                alpha=1.0 if (r.on_front or r.variant == style.REFERENCE_VARIANT) else 0.6,
                zorder=3,
            )
            if r.on_uncertain_front:
                ax.plot(
                    [r.j],
                    [r.accuracy],
                    marker="o",
                    markersize=9,
                    fillstyle="none",
                    color="0.25",
                    markeredgewidth=0.6,
                    linestyle="",
                    zorder=2,
                )
        f = g[g.on_front.astype(bool)].sort_values("j")
        if len(f):
            xs, ys = [], []
            for x, yv in zip(f.j, f.accuracy):
                if xs:
                    xs.append(x)
                    ys.append(ys[-1])
                xs.append(x)
                ys.append(yv)
            ax.plot(xs, ys, color="0.15", linewidth=0.9, zorder=2.5, drawstyle="default")
        _log_axis(ax, "x")
        xlo, xhi = g.j_low.fillna(g.j).min(), g.j_high.fillna(g.j).max()
        ax.set_xlim(xlo / 1.5, xhi * 1.5)
        ylo, yhi = g.acc_low.fillna(g.accuracy).min(), g.acc_high.fillna(g.accuracy).max()
        pad = max(0.01, 0.12 * (yhi - ylo))
        ax.set_ylim(ylo - pad, yhi + pad)
        ax.set_xlabel(f"J per inference, gross ({energy_label(g)}; 95% CI)")
        ax.set_ylabel("accuracy on SST-2 dev (95% CI)")
        _panel_title(ax, f"{device} · {model}")
    for ax in axes.flat[len(facets) :]:
        ax.set_axis_off()
    handles = [
        Line2D([], [], color="0.15", linewidth=0.9, label="Pareto front (point estimates)"),
        Line2D(
            [],
            [],
            marker="o",
            markersize=9,
            fillstyle="none",
            color="0.25",
            linestyle="",
            markeredgewidth=0.6,
            label="not clearly dominated (95% CIs): uncertainty-aware front",
        ),
    ]
    fams = _families(front.variant)
    handles += [
        Line2D(
            [],
            [],
            marker=style.family_look(f)[1],
            color=style.family_look(f)[0],
            linestyle="",
            label=style.family_label(f),
        )
        for f in fams
    ]
    handles.insert(2, Line2D([], [], marker="o", color=style.BASELINE_COLOR, linestyle="", label="FP32 baseline"))
    _fig_legend(fig, handles, ncol=min(5, len(handles)))
    _freeze(fig)
    for ax, ((device, model), g) in zip(axes.flat, facets):
        items = []
        for _, r in g.sort_values(["on_front", "j"], ascending=[False, True]).iterrows():
            lab = looks[r.variant].label
            if g.batch_size.nunique() > 1 or g.padding.nunique() > 1:
                lab += f" (b{r.batch_size})"
            items.append((r.j, r.accuracy, lab, bool(r.on_front)))
        place_labels(ax, items)
    return fig


WHAT = {
    "pareto_accuracy_energy": "Accuracy against gross joules per inference, one point per variant at its "
    "lowest-energy cell, 95% intervals on both axes; the solid steps are the Pareto front "
    "of the point estimates, ringed points are not clearly dominated once the intervals "
    "are compared (the uncertainty-aware front).",
}


def _cap_pareto(d):
    f = d["front"]
    nums = []
    for (device, model), g in f.groupby(["device", "model"]):
        front = g[g.on_front.astype(bool)].sort_values("j")
        unc = g[g.on_uncertain_front.astype(bool)]
        nums.append(
            f"{device} · {model}: {len(g)} variants; front ({len(front)}): "
            + ", ".join(
                f"{r.variant} (batch {r.batch_size}, {_g(r.j)} J, accuracy {_g(r.accuracy, 4)})"
                for r in front.itertuples()
            )
        )
        nums.append(
            f"{device} · {model}: {len(unc)} not clearly dominated at 95%: " + ", ".join(style.ordered(unc.variant))
        )
        cells = g.groupby(["batch_size", "padding", "mode"]).size()
        nums.append(
            "cells: " + "; ".join(f"batch {b}, {p} padding, {m}: {n} variants" for (b, p, m), n in cells.items())
        )
    return WHAT["pareto_accuracy_energy"], nums


register_figure(
    Figure(
        "pareto_accuracy_energy",
        40,
        lambda d: fig_pareto(d["front"], d["accuracy"]),
        _cap_pareto,
        WHAT["pareto_accuracy_energy"],
        (PARETO, "accuracy-energy"),
    )
)
