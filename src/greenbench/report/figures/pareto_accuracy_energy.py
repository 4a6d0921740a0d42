"""Accuracy against energy, paired against fp32 (accuracy difference by sentence, J/inference ratio by
trial), with both fronts, the answer's accuracy and latency bounds and placed labels, one panel per
(device, model), and its caption."""

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
    _ref_line,
    _ci,
    energy_label,
)
from greenbench.report.figures.layout import place_labels
from greenbench.report.figures.figure import PARETO, Figure, register_figure


def bounds(data: dict) -> tuple[float | None, float | None]:
    """The answer's accuracy bound (points lost against fp32) and p95 latency bound (ms), from the
    figures job's settings (``greenbench.pipeline.wiring.figures``); None where not given."""
    answer = (data.get("settings") or {}).get("answer") or {}
    loss, p95 = answer.get("max_accuracy_loss_pts"), answer.get("max_latency_p95_ms")
    return (float(loss) if loss is not None else None), (float(p95) if p95 is not None else None)


def _slow(r, max_p95: float | None) -> bool:
    return max_p95 is not None and pd.notna(r.p95_ms) and float(r.p95_ms) > max_p95


def _err(value: float, low: float, high: float, scale: float = 1.0):
    """Error bar lengths below and above, none where the interval is missing."""
    if pd.isna(low) or pd.isna(high):
        return None
    return [[scale * (value - low)], [scale * (high - value)]]


def fig_pareto(front: pd.DataFrame, accuracy: pd.DataFrame | None = None, max_loss_pts=None, max_p95_ms=None):
    """Paired against fp32, one point per variant at its lowest-energy cell: x its J/inference ratio to
    fp32 in the same cell (paired by trial, 95% CI), y its accuracy difference to fp32 in points (paired
    by sentence, 95% CI); fp32 at (1, 0) exactly. The plain front of these estimates (solid steps), the
    uncertainty-aware front of the paired intervals (ringed points), the answer's accuracy bound
    (dotted line, ``max_loss_pts``) and hollow markers for cells whose p95 latency exceeds
    ``max_p95_ms``; labels placed without overlap; one panel per (device, model)."""
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
            slow = _slow(r, max_p95_ms)
            ax.errorbar(
                [r.ratio],
                [100 * r.delta],
                xerr=_err(r.ratio, r.ratio_low, r.ratio_high),
                yerr=_err(r.delta, r.delta_low, r.delta_high, 100),
                marker=lk.marker,
                color=lk.color,
                markersize=5 if r.on_front else 4,
                markerfacecolor="none" if slow else lk.color,
                markeredgewidth=0.9 if slow else 0.5,
                linestyle="",
                elinewidth=0.6,
                alpha=1.0 if (r.on_front or r.variant == style.REFERENCE_VARIANT) else 0.6,
                zorder=3,
            )
            if r.on_uncertain_front:
                ax.plot(
                    [r.ratio],
                    [100 * r.delta],
                    marker="o",
                    markersize=9,
                    fillstyle="none",
                    color="0.25",
                    markeredgewidth=0.6,
                    linestyle="",
                    zorder=2,
                )
        f = g[g.on_front.astype(bool)].sort_values("ratio")
        if len(f):
            xs, ys = [], []
            for x, yv in zip(f.ratio, 100 * f.delta):
                if xs:
                    xs.append(x)
                    ys.append(ys[-1])
                xs.append(x)
                ys.append(yv)
            ax.plot(xs, ys, color="0.15", linewidth=0.9, zorder=2.5, drawstyle="default")
        _ref_line(ax, 1.0, vertical=True, linewidth=0.5, color="0.6")
        _ref_line(ax, 0.0, vertical=False, linewidth=0.5, color="0.6")
        if max_loss_pts is not None:
            _ref_line(ax, -max_loss_pts, vertical=False, color="#b2182b", linestyle=(0, (1, 1.5)), linewidth=0.9)
        _log_axis(ax, "x")
        xlo = min(1.0, g.ratio_low.fillna(g.ratio).min())
        xhi = max(1.0, g.ratio_high.fillna(g.ratio).max())
        ax.set_xlim(xlo / 1.5, xhi * 1.5)
        ylo = 100 * min(g.delta_low.fillna(g.delta).min(), 0.0)
        yhi = 100 * max(g.delta_high.fillna(g.delta).max(), 0.0)
        if max_loss_pts is not None:
            ylo = min(ylo, -max_loss_pts)
        pad = max(0.3, 0.12 * (yhi - ylo))
        ax.set_ylim(ylo - pad, yhi + pad)
        ax.set_xlabel(f"J per inference ÷ fp32's, same cell ({energy_label(g)}; paired 95% CI)")
        ax.set_ylabel("accuracy − fp32's, points\n(SST-2 dev, paired 95% CI)")
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
            label="not clearly dominated (paired 95% CIs)",
        ),
    ]
    if max_loss_pts is not None:
        handles.append(
            Line2D(
                [],
                [],
                color="#b2182b",
                linestyle=(0, (1, 1.5)),
                linewidth=0.9,
                label=f"accuracy bound: −{max_loss_pts:g} pt vs fp32",
            )
        )
    if max_p95_ms is not None and any(_slow(r, max_p95_ms) for r in front.itertuples()):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                fillstyle="none",
                color="0.25",
                linestyle="",
                label=f"hollow: p95 latency > {max_p95_ms:g} ms",
            )
        )
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
        for _, r in g.sort_values(["on_front", "ratio"], ascending=[False, True]).iterrows():
            lab = looks[r.variant].label
            if g.batch_size.nunique() > 1 or g.padding.nunique() > 1:
                lab += f" (b{r.batch_size})"
            items.append((r.ratio, 100 * r.delta, lab, bool(r.on_front)))
        place_labels(ax, items)
    return fig


WHAT = {
    "pareto_accuracy_energy": "Each variant against fp32, paired, one point per variant at its lowest-energy "
    "cell: x is its J/inference divided by fp32's in the same cell (geometric mean of the per-trial ratios, "
    "95% interval paired by trial), y its accuracy minus fp32's in points on the same SST-2 dev sentences "
    "(95% paired bootstrap interval over sentences); fp32 sits at (1, 0) exactly. Paired intervals are "
    "tighter than per-variant ones wherever the two answer mostly alike, since both ran on the same "
    "sentences in the same trials. The solid steps are the Pareto front of the point estimates; ringed points are not clearly "
    "dominated once the paired intervals are compared (the uncertainty-aware front); the dotted line is "
    "the answer's accuracy bound and hollow markers are cells whose p95 latency exceeds the answer's "
    "latency bound.",
}


def _pts(x) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:+.2f}"


def _cap_pareto(d):
    f = d["front"]
    max_loss, max_p95 = bounds(d)
    nums = []
    if max_loss is not None or max_p95 is not None:
        nums.append(
            f"bounds (answer): accuracy loss at most {_g(max_loss)} pts against fp32; "
            f"p95 latency at most {_g(max_p95)} ms"
        )
    for (device, model), g in f.groupby(["device", "model"]):
        front = g[g.on_front.astype(bool)].sort_values("ratio")
        unc = g[g.on_uncertain_front.astype(bool)]
        nums.append(
            f"{device} · {model}: {len(g)} variants; front ({len(front)}): "
            + ", ".join(
                f"{r.variant} (batch {r.batch_size}, {_g(r.j)} J, ratio {_ci(r.ratio, r.ratio_low, r.ratio_high)}, "
                f"Δ {_pts(r.delta)} [{_pts(r.delta_low)}, {_pts(r.delta_high)}] pts, McNemar p {_g(r.mcnemar_p, 2)})"
                for r in front.itertuples()
            )
        )
        nums.append(
            f"{device} · {model}: {len(unc)} not clearly dominated (paired 95% CIs): "
            + ", ".join(style.ordered(unc.variant))
        )
        if max_loss is not None:
            worse = g[g.delta_high.fillna(g.delta) < -max_loss / 100]
            nums.append(
                f"{device} · {model}: clearly beyond the accuracy bound (whole interval below −{_g(max_loss)} pts): "
                + (", ".join(style.ordered(worse.variant)) or "none")
            )
        if max_p95 is not None:
            slow = g[[_slow(r, max_p95) for r in g.itertuples()]]
            nums.append(
                f"{device} · {model}: p95 latency above {_g(max_p95)} ms (hollow): "
                + (", ".join(f"{r.variant} ({_g(r.p95_ms)} ms)" for r in slow.itertuples()) or "none")
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
        lambda d: fig_pareto(d["front"], d["accuracy"], *bounds(d)),
        _cap_pareto,
        WHAT["pareto_accuracy_energy"],
        (PARETO, "accuracy-energy"),
    )
)
