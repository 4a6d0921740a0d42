"""Paper figures, one style (``greenbench.report.style``): a fixed variant order, a colour and marker per
variant family, human labels, units on every axis, single- or double-column print sizes, each saved
as PDF and PNG with a generated caption (``<name>.rst``: what it shows and its key numbers, from the
same tables). ``check_layout`` finds text that overlaps other text or data, for the tests and the
figures job's log. Importable without Snakemake."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from greenbench.core import io
from greenbench.report import style
from greenbench.core.log import get_logger

log = get_logger(__name__)

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


def pareto_table(energy: pd.DataFrame, accuracy: pd.DataFrame) -> pd.DataFrame:
    """One point per (device, model, variant): its lowest-energy measured cell (batch, padding, mode),
    J/inference and accuracy with their 95% intervals, and whether it is on the plain front and on the
    uncertainty-aware front (not clearly dominated once the intervals are compared) of these points."""
    from greenbench.analysis import pareto

    cols = ["device", "model", "variant", "batch_size", "padding", "mode", "j", "j_low", "j_high", "energy_label",
            "accuracy", "acc_low", "acc_high", "on_front", "on_uncertain_front"]
    j = _metric(energy, J)
    acc = accuracy[accuracy.status == "ok"]
    if j.empty or acc.empty:
        return pd.DataFrame(columns=cols)
    best = j.sort_values(["mean", "batch_size"], kind="stable").groupby(["device", "model", "variant"]).head(1)
    best = best.rename(columns={"mean": "j", "ci_low": "j_low", "ci_high": "j_high"})
    a = acc[["device", "model", "variant", "accuracy", "ci_low", "ci_high"]].rename(
        columns={"ci_low": "acc_low", "ci_high": "acc_high"})
    df = best.merge(a, on=["device", "model", "variant"], how="inner")
    parts = []
    for _, g in df.groupby(["device", "model"], sort=True):
        g = g.copy()
        mean = g[["accuracy", "j"]].to_numpy(float)
        low = g[["acc_low", "j_low"]].to_numpy(float)
        high = g[["acc_high", "j_high"]].to_numpy(float)
        low, high = np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high)
        g["on_front"] = pareto.pareto_front(mean, [1, -1])
        g["on_uncertain_front"] = pareto.uncertain_front(low, high, [1, -1])
        parts.append(g)
    out = pd.concat(parts, ignore_index=True)[cols]
    return out.sort_values(["device", "model", "j"]).reset_index(drop=True)


def highlighted(front: pd.DataFrame) -> set[str]:
    """The variants drawn in full colour in the small multiples: the baseline and the plain front."""
    return {style.BASELINE} | set(front.loc[front.on_front.astype(bool), "variant"]) if not front.empty else {style.BASELINE}


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

    return [Line2D([], [], color=looks[v].color, marker=looks[v].marker, fillstyle=looks[v].fillstyle,
                   linestyle=looks[v].linestyle if lines else "", linewidth=1.6 if v in front else 1.0,
                   markersize=4, label=looks[v].label + (" (front)" if v in front and v != style.BASELINE else ""))
            for v in variants]


def _fig_legend(fig, handles, ncol: int) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncol=max(1, ncol), handlelength=2.4, columnspacing=1.2,
               fontsize=6.2)


def _panel_title(ax, text: str) -> None:
    ax.set_title(text, fontsize=7, loc="left")


# ---- accuracy ----------------------------------------------------------------------------------------

def fig_accuracy(accuracy: pd.DataFrame, front: pd.DataFrame | None = None):
    """Accuracy on SST-2 dev per variant (95% bootstrap CI), one panel per device; variants that do not
    apply on a device are listed on their row."""
    devices = sorted(set(accuracy.device)) if not accuracy.empty else []
    variants = study_variants(accuracy)
    if not devices:
        fig, axes = _figure(style.SINGLE, 1.6)
        _empty(axes[0, 0], "no evaluated variants")
        return fig
    looks = style.looks(variants)
    hi = highlighted(front if front is not None else pd.DataFrame())
    height = 0.9 + 0.16 * len(variants)
    width = style.SINGLE if len(devices) == 1 else style.DOUBLE
    fig, axes = _figure(width, height, 1, len(devices), sharey=True)
    y = {v: i for i, v in enumerate(variants)}
    for ax, device in zip(axes[0], devices):
        d = accuracy[accuracy.device == device]
        ok = d[d.status == "ok"]
        for _, r in ok.iterrows():
            lk = looks[r.variant]
            ax.errorbar([r.accuracy], [y[r.variant]], xerr=[[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]],
                        marker=lk.marker, color=lk.color, markersize=4, linestyle="", elinewidth=0.8,
                        alpha=1.0 if r.variant in hi else 0.55)
        base = ok[ok.variant == style.BASELINE]
        if len(base):
            _ref_line(ax, float(base.accuracy.iloc[0]), vertical=True)
        if len(ok):
            lo, top = float(ok.ci_low.min()), float(ok.ci_high.max())
            pad = max(0.01, 0.08 * (top - lo))
            ax.set_xlim(max(0.0, lo - pad), min(1.0, top + pad))
        for _, r in d[d.status != "ok"].iterrows():
            ax.text(0.02, y[r.variant], "not applicable here", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=6, color="0.35", style="italic")
        ax.set_xlabel("accuracy on SST-2 dev (fraction correct; 95% CI)")
        _panel_title(ax, f"{device}" + (f" · {', '.join(sorted(set(d.model)))}" if d.model.nunique() else ""))
        ax.grid(axis="y", visible=False)
    axes[0, 0].set_yticks(range(len(variants)), [looks[v].label for v in variants])
    axes[0, 0].set_ylim(len(variants) - 0.5, -0.5)
    _bold_ticks(axes[0, 0], variants, hi)
    return fig


def _bold_ticks(ax, variants, hi) -> None:
    for tick, v in zip(ax.get_yticklabels(), variants):
        if v in hi:
            tick.set_fontweight("bold")


# ---- energy by variant and batch ---------------------------------------------------------------------

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
                ax.errorbar([r["mean"]], [y[r.variant]], xerr=[[r["mean"] - r.ci_low], [r.ci_high - r["mean"]]],
                            marker=lk.marker, color=lk.color if strong else style.MUTED, markeredgecolor=lk.color,
                            markersize=4.2 if strong else 3.4, linestyle="", elinewidth=0.8, zorder=3 if strong else 2)
            base = g[g.variant == style.BASELINE]
            if len(base):
                _ref_line(ax, float(base["mean"].iloc[0]), vertical=True)
            for v in variants:
                if v not in set(g.variant):
                    why = "not applicable" if status.get((device, v)) == "not_applicable" else "not measured"
                    ax.text(0.03, y[v], why, transform=ax.get_yaxis_transform(), va="center", fontsize=5.5,
                            color="0.4", style="italic")
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
    fig.suptitle(f"{pad} padding, {mode} · bold: the baseline and the accuracy–energy front; dashed line: fp32",
                 fontsize=7)
    return fig


# ---- latency vs throughput ---------------------------------------------------------------------------

def _families(variants) -> list[str]:
    fams = []
    for v in style.ordered(variants):
        f = style.family(v)
        if f not in fams:
            fams.append(f)
    return fams


def _groups(variants) -> list[str]:
    out = []
    for v in style.ordered(variants):
        g = style.group(v)
        if g not in out:
            out.append(g)
    return out


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def fig_latency(energy: pd.DataFrame, front: pd.DataFrame):
    """Batch latency p50 against throughput, one line per variant through its batch sizes; one panel
    per variant family (the family in colour, the baseline black, every other variant muted)."""
    lat = _metric(energy, "latency_p50_ms")
    thr = _metric(energy, "throughput_per_s")
    keys = ["device", "model", "variant", "batch_size", "padding", "mode"]
    df = lat.set_index(keys)[["mean"]].rename(columns={"mean": "latency"}).join(
        thr.set_index(keys)[["mean"]].rename(columns={"mean": "throughput"}), how="inner").dropna().reset_index()
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
            mine = style.group(v) == fam or v == style.BASELINE
            if not mine:
                ax.plot(g.throughput, g.latency, color=style.MUTED, linewidth=0.7, zorder=1)
                continue
            lk = looks[v]
            ax.plot(g.throughput, g.latency, color=lk.color, marker=lk.marker, linestyle=lk.linestyle,
                    fillstyle=lk.fillstyle, linewidth=1.6 if v in hi else 1.0, markersize=3.5, zorder=3)
        _panel_title(ax, fam)
        _log_axis(ax, "x")
        _log_axis(ax, "y")
    for ax in axes.flat[len(fams):]:
        ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("throughput (inferences/s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("batch latency p50 (ms)")
    _fig_legend(fig, _legend_handles(variants, looks, hi), ncol=4)
    fig.suptitle(f"{device}, {setting[0]} padding, {setting[1]}: each line runs through batch sizes "
                 f"{', '.join(map(str, sorted(set(df.batch_size))))}", fontsize=7)
    return fig


# ---- Pareto ------------------------------------------------------------------------------------------

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
            ax.errorbar([r.j], [r.accuracy], xerr=[[r.j - r.j_low], [r.j_high - r.j]],
                        yerr=[[r.accuracy - r.acc_low], [r.acc_high - r.accuracy]], marker=lk.marker,
                        color=lk.color, markersize=5 if r.on_front else 4, linestyle="", elinewidth=0.6,
                        alpha=1.0 if (r.on_front or r.variant == style.BASELINE) else 0.6, zorder=3)
            if r.on_uncertain_front:
                ax.plot([r.j], [r.accuracy], marker="o", markersize=9, fillstyle="none", color="0.25",
                        markeredgewidth=0.6, linestyle="", zorder=2)
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
    for ax in axes.flat[len(facets):]:
        ax.set_axis_off()
    handles = [Line2D([], [], color="0.15", linewidth=0.9, label="Pareto front (point estimates)"),
               Line2D([], [], marker="o", markersize=9, fillstyle="none", color="0.25", linestyle="",
                      markeredgewidth=0.6, label="not clearly dominated (95% CIs): uncertainty-aware front")]
    fams = _families(front.variant)
    handles += [Line2D([], [], marker=style.FAMILIES[f][2], color=style.FAMILIES[f][1], linestyle="",
                       label=style.family_label(f)) for f in fams]
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


def _data_points(fig, renderer=None, exclude=()) -> np.ndarray:
    """Display coordinates of every drawn data mark: markers (their extent), line vertices and
    segments sampled every 2 px, bars and scatter points; guide lines and error-bar whiskers are
    left out."""
    pts = [np.empty((0, 2))]
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        box = ax.get_window_extent(renderer)
        whiskers = set()  # error bars' whiskers and caps: a label may cross an interval, never a mark
        for c in ax.containers:
            if type(c).__name__ == "ErrorbarContainer":
                whiskers |= {id(a) for a in list(c[1]) + list(c[2])}
        for artist in list(ax.lines) + list(ax.collections) + list(ax.patches):
            if (artist in exclude or id(artist) in whiskers or not artist.get_visible()
                    or artist.get_gid() == REFERENCE):
                continue
            pts.append(_artist_points(artist, ax, box))
    return np.concatenate(pts)


def _sample(xy: np.ndarray, step: float = 2.0) -> np.ndarray:
    if len(xy) < 2:
        return xy
    out = [xy[:1]]
    for a, b in zip(xy[:-1], xy[1:]):
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            continue
        n = int(min(400, max(1, np.hypot(*(b - a)) // step)))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def _artist_points(artist, ax, box) -> np.ndarray:
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    pts = []
    if isinstance(artist, Line2D):
        xy = artist.get_transform().transform(np.asarray(artist.get_xydata(), float))
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if artist.get_linestyle() not in ("None", "", " ", "none"):
            pts.append(_sample(xy))
        if artist.get_marker() not in (None, "None", "", " ", "none"):
            r = artist.get_markersize() * ax.figure.dpi / 72 / 2
            for dx, dy in itertools.product((-r, 0, r), repeat=2):
                pts.append(xy + [dx, dy])
    elif isinstance(artist, LineCollection):
        for seg in artist.get_segments():
            if len(seg):
                pts.append(_sample(artist.get_transform().transform(np.asarray(seg, float))))
    elif isinstance(artist, PathCollection):
        off = artist.get_offsets()
        if len(off):
            pts.append(artist.get_offset_transform().transform(np.asarray(off, float)))
    elif isinstance(artist, (Rectangle, PolyCollection)):
        ext = artist.get_window_extent()
        if ext.width > 0 and ext.height > 0:
            xs = np.linspace(ext.x0, ext.x1, max(2, int(ext.width // 3)))
            ys = np.linspace(ext.y0, ext.y1, max(2, int(ext.height // 3)))
            pts.append(np.array(list(itertools.product(xs, ys))))
    if not pts:
        return np.empty((0, 2))
    xy = np.concatenate(pts)
    inside = (xy[:, 0] >= box.x0 - 1) & (xy[:, 0] <= box.x1 + 1) & (xy[:, 1] >= box.y0 - 1) & (xy[:, 1] <= box.y1 + 1)
    return xy[inside]


def _hits(bbox, pts: np.ndarray, shrink: float = 1.0) -> int:
    if not len(pts):
        return 0
    return int(np.sum((pts[:, 0] > bbox.x0 + shrink) & (pts[:, 0] < bbox.x1 - shrink)
                      & (pts[:, 1] > bbox.y0 + shrink) & (pts[:, 1] < bbox.y1 - shrink)))


def _text_box(t, renderer):
    """A text's own extent (an annotation's without its leader line)."""
    from matplotlib.text import Text

    if hasattr(t, "update_positions"):  # an annotation places its text at draw time
        t.update_positions(renderer)
    return Text.get_window_extent(t, renderer)


def _overlap(a, b, tol: float = 0.5) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def place_labels(ax, items, fontsize: float = 6.0) -> list:
    """Label points ``(x, y, text, strong)`` near their marker without overlapping data, each other or
    the axes frame: the first free spot among 8 directions at growing distances (a thin leader line
    beyond the nearest ring); a label that finds none goes to the closest free spot on a wider search."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    data = _data_points(fig, renderer)
    placed = [_text_box(t, renderer) for t in ax.texts]
    out = []
    directions = [(1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1)]
    radii = [5, 9, 14, 20, 28, 38, 50, 64, 80, 100]
    for x, y, text, strong in items:
        best = None
        for r, (dx, dy) in itertools.product(radii, directions):
            norm = math.hypot(dx, dy)
            off = (r * dx / norm, r * dy / norm)
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            arrow = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.4, "shrinkA": 0, "shrinkB": 3} if r > 9 else None
            t = ax.annotate(text, (x, y), xytext=off, textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                            fontweight="bold" if strong else "normal", arrowprops=arrow, zorder=5)
            bb = _text_box(t, renderer)
            ok = (bb.x0 >= box.x0 + 1 and bb.x1 <= box.x1 - 1 and bb.y0 >= box.y0 + 1 and bb.y1 <= box.y1 - 1
                  and _hits(bb.expanded(1.0, 1.0), data, 0) == 0 and not any(_overlap(bb, p, 0) for p in placed))
            if ok:
                best = t
                placed.append(bb)
                break
            t.remove()
        if best is None:  # no free spot: keep the nearest in-frame one and let check_layout say so
            t = ax.annotate(text, (x, y), xytext=(5, 0), textcoords="offset points", ha="left", va="center",
                            fontsize=fontsize, zorder=5)
            placed.append(_text_box(t, renderer))
            best = t
        out.append(best)
    return out


# ---- difficulty --------------------------------------------------------------------------------------

def _predictions(prediction_files) -> pd.DataFrame:
    rows = []
    for path in prediction_files:
        meta = io.read_metadata(path)
        df = io.read_parquet(path)
        if df.empty:
            continue
        rows.append(df.assign(variant=meta["variant"], device=meta["device"]))
    return pd.concat(rows) if rows else pd.DataFrame()


CONFIDENCE_EDGES = [0.5, 0.7, 0.9, 0.99, 1.0]


def difficulty_tables(predictions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy per variant by sentence-length quartile and by confidence bin, with human bin labels
    (ordered) — the figure's and the caption's numbers."""
    if predictions.empty:
        return pd.DataFrame(), pd.DataFrame()
    df = predictions.copy()
    df = df[df.device == sorted(set(df.device))[0]]
    df["correct"] = (df.prediction == df.label).astype(float)
    length_bins = pd.qcut(df["length"], q=4, duplicates="drop")
    conf_bins = pd.cut(df["confidence"], CONFIDENCE_EDGES, include_lowest=True)
    df["bin"] = length_bins
    by_len = df.groupby(["variant", "bin"], observed=True)["correct"].agg(["mean", "size"]).reset_index()
    by_len["label"] = [style.length_bin_label(b.left, b.right) for b in by_len["bin"]]
    by_len["order"] = [b.left for b in by_len["bin"]]
    df["bin"] = conf_bins
    by_conf = df.groupby(["variant", "bin"], observed=True)["correct"].agg(["mean", "size"]).reset_index()
    by_conf["label"] = [style.interval_label(max(0.5, b.left), b.right, short=True) for b in by_conf["bin"]]
    by_conf["order"] = [b.left for b in by_conf["bin"]]
    return by_len.drop(columns="bin"), by_conf.drop(columns="bin")


def length_energy_table(by_length: pd.DataFrame) -> tuple[pd.DataFrame, int | None]:
    """Gross J per sentence by padded-length bin at batch 8 (or the nearest measured), dynamic
    padding, eager, on the first device, with human bin labels."""
    if by_length.empty:
        return pd.DataFrame(), None
    batch = min(sorted(set(by_length.batch_size)), key=lambda b: abs(b - 8))
    df = by_length[(by_length.batch_size == batch) & (by_length["mode"] == "eager")]
    if df.empty:
        return pd.DataFrame(), batch
    df = df[df.device == sorted(set(df.device))[0]].copy()
    df["label"] = [_energy_bin_label(b) for b in df.length_bin]
    df["order"] = df.bin_lo
    return df, batch


def _energy_bin_label(key: str) -> str:
    key = str(key)
    if key.startswith(">"):
        return f"> {key[1:]}"
    lo, _, hi = key.partition("-")
    return f"{lo}–{hi}" if hi else key


def fig_difficulty(predictions: pd.DataFrame, by_length: pd.DataFrame, front: pd.DataFrame):
    """Small multiples, one column per variant family: accuracy by sentence-length quartile, accuracy
    by confidence bin, gross J per sentence by padded length; the family in colour, the baseline black,
    every other variant muted."""
    by_len, by_conf = difficulty_tables(predictions)
    energy_len, batch = length_energy_table(by_length)
    variants = style.ordered(set(by_len.get("variant", [])) | set(energy_len.get("variant", [])))
    if not variants:
        fig, axes = _figure(style.SINGLE, 1.6)
        _empty(axes[0, 0], "no predictions and no energy by length")
        return fig
    looks = style.looks(variants)
    hi = highlighted(front)
    fams = _groups(variants)
    rows_spec = [("accuracy", by_len, "mean", "sentence length (tokens)"),
                 ("accuracy", by_conf, "mean", "confidence (max softmax)"),
                 (f"J/sentence ({energy_label(energy_len)}, batch {batch})", energy_len, "j_per_inf_gross",
                  "padded batch length (tokens)")]
    fig, axes = _figure(style.DOUBLE, 1.2 + 1.55 * 3, 3, len(fams), sharey="row")
    for row, (ylabel, table, value, xlabel) in enumerate(rows_spec):
        cats = (table.drop_duplicates("label").sort_values("order")["label"].tolist() if not table.empty else [])
        pos = {c: i for i, c in enumerate(cats)}
        for col, fam in enumerate(fams):
            ax = axes[row, col]
            if table.empty:
                _empty(ax, "no data")
                continue
            for v, g in table.groupby("variant"):
                g = g.sort_values("order")
                x = [pos[c] for c in g.label]
                if not (style.group(v) == fam or v == style.BASELINE):
                    ax.plot(x, g[value], color=style.MUTED, linewidth=0.7, zorder=1)
                    continue
                lk = looks[v]
                ax.plot(x, g[value], color=lk.color, marker=lk.marker, linestyle=lk.linestyle,
                        fillstyle=lk.fillstyle, linewidth=1.6 if v in hi else 1.0, markersize=3.2, zorder=3)
            ax.set_xticks(range(len(cats)), cats, fontsize=5.5)
            ax.set_xlim(-0.4, len(cats) - 0.6)
            if row == 2:
                _log_axis(ax, "y")
            if row == 0:
                _panel_title(ax, fam)
            if col == 0:
                ax.set_ylabel(ylabel if row < 2 else f"J per sentence\n({energy_label(energy_len)}, batch {batch})")
            if col == len(fams) // 2:
                ax.set_xlabel(xlabel)
    _fig_legend(fig, _legend_handles(variants, looks, hi), ncol=5)
    return fig


def router_share(predictions: pd.DataFrame) -> pd.DataFrame:
    if predictions.empty or "route" not in predictions:
        return pd.DataFrame()
    routed = predictions[predictions.route >= 0].copy()
    if routed.empty:
        return pd.DataFrame()
    routed["bin"] = pd.qcut(routed["length"], q=4, duplicates="drop")
    share = routed.groupby("bin", observed=True)["route"].agg(lambda r: float((r == 0).mean())).reset_index()
    share["label"] = [style.length_bin_label(b.left, b.right) for b in share["bin"]]
    share["n"] = routed.groupby("bin", observed=True).size().values
    return share.drop(columns="bin")


def fig_router(predictions: pd.DataFrame):
    """The adaptive router: share of sentences answered by the cheap tier, by sentence length."""
    fig, axes = _figure(style.SINGLE, 2.2)
    ax = axes[0, 0]
    share = router_share(predictions)
    if share.empty:
        _empty(ax, "no adaptive router in this study")
        return fig
    lk = style.looks(["adaptive"])["adaptive"]
    ax.bar(range(len(share)), share.route, color=lk.color, edgecolor="black", linewidth=0.5, hatch="///")
    ax.set_xticks(range(len(share)), share.label)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("sentence length (tokens, quartiles)")
    ax.set_ylabel("share answered by the cheap tier")
    return fig


# ---- carbon, spiking, amortization (single panels) ---------------------------------------------------

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
    for (ls, color), model in zip([("--", "#0072B2"), (":", "#D55E00"), ("-.", "#009E73")],
                                  ["tcn", "seasonal_naive_24h", "ridge"]):
        m = f[f.model == model].sort_values("timestamp")
        if m.empty:
            continue
        ax.plot(m.timestamp, m.forecast, color=color, linestyle=ls, linewidth=1, label=model)
        if model == "tcn":
            # an adaptive interval is unbounded (inf) where its pool cannot resolve the level: leave a gap
            finite = np.isfinite(m.low.to_numpy(float)) & np.isfinite(m.high.to_numpy(float))
            ax.fill_between(m.timestamp, m.low.where(finite), m.high.where(finite), where=finite, color="#0072B2",
                            alpha=0.15, linewidth=0, label="tcn interval")
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
        handles.append(Line2D([], [], color=color, linestyle="--", marker=".", label=f"{scenario or 'scenario'}: weighted sweep"))
        for _, r in s[s.policy != "weighted"].iterrows():
            marker = markers.setdefault(r.policy, MARKERS[len(markers) % len(MARKERS)])
            ax.plot(r.latency_p95_ms, r.g_per_1000_requests, marker=marker, color=color, fillstyle="none", linestyle="")
    handles += [Line2D([], [], marker=m, color="black", fillstyle="none", linestyle="", label=p) for p, m in markers.items()]
    ax.set_xlabel("latency p95 (ms)")
    ax.set_ylabel(f"gCO2e per 1,000 requests\n({schedule.energy_label.iloc[0]} energy)")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def firing_rates(summary: pd.DataFrame, ax) -> None:
    """Per-layer firing rates of the spiking self-attention neurons (Q, K, V, attention output)."""
    df = firing_table(summary)
    if df.empty:
        return _empty(ax, "no spiking variant in this study")
    neurons = ["q", "k", "v", "out"]
    width = 0.8 / len(neurons)
    colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7"]
    for i, (neuron, hatch) in enumerate(zip(neurons, ["", "//", "..", "xx"])):
        g = df[df.neuron == neuron].groupby("layer")["rate"].mean()
        ax.bar(g.index + (i - 1.5) * width, g.values, width, color=colors[i], edgecolor="black", linewidth=0.4,
               hatch=hatch, label=neuron)
    ax.set_xlabel("encoder layer")
    ax.set_ylabel("firing rate (spikes per neuron per step)")
    ax.set_title(", ".join(sorted(df.run.unique())), fontsize=7)
    ax.set_xticks(sorted(set(df.layer)))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="neuron")


def firing_table(summary: pd.DataFrame) -> pd.DataFrame:
    import json

    rows = []
    for _, r in summary[summary.status == "ok"].iterrows():
        for layer, rates in enumerate(json.loads(r.variant_info).get("firing_rates") or []):
            rows += [{"run": f"{r.variant} ({r.device})", "layer": layer, "neuron": k, "rate": v}
                     for k, v in (rates or {}).items()]
    return pd.DataFrame(rows, columns=["run", "layer", "neuron", "rate"])


def amortization(curves: pd.DataFrame, ax) -> None:
    """Lifecycle J per inference (fine-tune + build + N inferences, over N) against deployment volume."""
    if curves.empty or curves.total_j.isna().all():
        return _empty(ax, "no build energy or no measured J/inference (see results/stats/footprint.parquet)")
    c = curves.dropna(subset=["total_j"])
    looks = style.looks(c.variant)
    for (device, variant), g in sorted(c.groupby(["device", "variant"]), key=lambda kv: style.order_key(kv[0][1])):
        lk = looks[variant]
        base = variant == style.BASELINE
        ax.plot(g.inferences, g.j_per_inference, linestyle=lk.linestyle, marker=lk.marker, markersize=2.5,
                fillstyle=lk.fillstyle, color=lk.color, linewidth=1.5 if base else 0.9,
                label=f"{lk.label} ({device})" if c.device.nunique() > 1 else lk.label)
    ax.set_xscale("log")
    _log_axis(ax, "y")
    ax.set_xlabel("inferences served (deployment volume N)")
    ax.set_ylabel("J per inference, build included")
    ax.set_title("(fine-tune + build + N × measured J/inference) / N", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + (len(looks) > 12))


def _single(plot: Callable, *args, size=(style.DOUBLE, 2.6)):
    fig, axes = _figure(*size)
    plot(*args, axes[0, 0])
    return fig


# ---- layout check -----------------------------------------------------------------------------------

def _texts(fig, renderer) -> list[tuple[str, Any, Any]]:
    """(description, window extent, owning axes or None) of every visible text and legend."""
    out, seen = [], set()

    def add(kind, t, ax):
        if t is None or not t.get_visible() or id(t) in seen:
            return
        seen.add(id(t))
        text = t.get_text() if hasattr(t, "get_text") else ""
        if hasattr(t, "get_text") and not str(text).strip():
            return
        out.append((f"{kind} '{text}'" if text else kind, _text_box(t, renderer), ax))

    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if ax.axison:
            for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                lo, hi = sorted(axis.get_view_interval())
                for minor in (False, True):
                    for tick, t in zip(axis.get_minor_ticks() if minor else axis.get_major_ticks(),
                                       axis.get_ticklabels(minor=minor)):
                        loc = tick.get_loc()
                        if loc is None or not (lo - 1e-12 * max(1, abs(lo)) <= loc <= hi + 1e-12 * max(1, abs(hi))):
                            continue
                        if tick.label1.get_visible():
                            add(f"{name} tick label", tick.label1, ax)
                add(f"{name} axis label", axis.label, ax)
        for t in (ax.title, ax._left_title, ax._right_title):
            add("title", t, ax)
        for t in ax.texts:
            add("annotation", t, ax)
        if ax.get_legend() is not None and ax.get_legend().get_visible():
            out.append(("legend", ax.get_legend().get_window_extent(renderer), ax))
    for t in fig.texts:
        add("figure text", t, None)
    for t in (getattr(fig, "_suptitle", None), getattr(fig, "_supxlabel", None), getattr(fig, "_supylabel", None)):
        add("figure title", t, None)
    for leg in fig.legends:
        out.append(("figure legend", leg.get_window_extent(renderer), None))
    return out


def check_layout(fig) -> list[str]:
    """Problems a reader would see: text (tick labels, axis labels, titles, annotations, legends)
    overlapping other text, or covering data marks of any panel. Empty when the figure is clean."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig, renderer)
    data = _data_points(fig, renderer)
    problems = []
    for (a, ba, _), (b, bb, _) in itertools.combinations(texts, 2):
        if _overlap(ba, bb, 0.5):
            problems.append(f"{a} overlaps {b}")
    for desc, box, _ in texts:
        n = _hits(box, data, 1.0)
        if n:
            problems.append(f"{desc} covers data ({n} points)")
    return problems


def figure_texts(fig) -> list[str]:
    """Every visible text of a figure (tick labels, legends, annotations, titles)."""
    fig.canvas.draw()
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_visible()):
        s = t.get_text()
        if s:
            out.append(str(s))
    return out


def labels_variant(texts, variant: str) -> bool:
    """A figure labels ``variant`` when a text is its human label, alone or followed by a space and
    a note (``BF16 (b64)``, ``BF16 (front)``)."""
    lab = style.label(variant)
    return any(t == lab or t.startswith(lab + " (") for t in texts)


# ---- captions ---------------------------------------------------------------------------------------

def _g(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _ci(mean, low, high, digits: int = 3) -> str:
    return f"{_g(mean, digits)} [{_g(low, digits)}, {_g(high, digits)}]"


def _rst(text: str) -> str:
    return text.replace("*", r"\*").replace("`", r"\`").replace("|", r"\|")


def captions(data: dict[str, Any]) -> dict[str, str]:
    """One reStructuredText caption per figure: what it shows, then its key numbers from the tables."""
    out = {}
    for name, fn in CAPTIONS.items():
        try:
            what, numbers = fn(data)
        except Exception as exc:  # a caption never stops the figures; it says what went wrong
            log.warning("caption of %s: %s", name, exc)
            what, numbers = CAPTION_WHAT.get(name, name), [f"key numbers unavailable: {exc}"]
        body = _rst(what) + "\n\n" + ("\n".join(f"- {_rst(n)}" for n in numbers) if numbers else "- no data")
        out[name] = body + "\n"
    return out


CAPTION_WHAT = {
    "accuracy_by_variant": "Accuracy on SST-2 dev of every variant of the study with its 95% bootstrap interval "
                           "over dev sentences, one panel per device; the dashed line is fp32; variants that do not "
                           "apply on a device are named on their row. Bold: the baseline and the accuracy–energy front.",
    "latency_vs_throughput": "Batch latency (p50) against throughput, one line per variant through its batch sizes; "
                             "small multiples per variant family (the family in colour, fp32 black, the rest grey).",
    "energy_by_batch": "Gross joules per inference of every variant (95% interval over trials), one panel per batch "
                       "size; the baseline and the accuracy–energy front in colour (bold labels), the rest muted; "
                       "the dashed line is fp32 at that batch. Energy is labelled measured or estimated.",
    "pareto_accuracy_energy": "Accuracy against gross joules per inference, one point per variant at its "
                              "lowest-energy cell, 95% intervals on both axes; the solid steps are the Pareto front "
                              "of the point estimates, ringed points are not clearly dominated once the intervals "
                              "are compared (the uncertainty-aware front).",
    "difficulty_by_length": "Where the variants differ: accuracy by sentence-length quartile and by confidence bin, "
                            "and gross joules per sentence by padded batch length (each window's energy split over "
                            "its length bins by measured time); one column per variant family.",
    "adaptive_router": "The adaptive-precision router: share of dev sentences answered by its cheap tier, by "
                       "sentence-length quartile.",
    "forecast_vs_actual": "Day-ahead carbon-intensity forecasts against the actual trace over the first week of the "
                          "test period, with the TCN's rolling split-conformal interval.",
    "forecast_mape_by_lead": "Forecast error (MAPE, mean over zones) by lead time for every forecaster.",
    "forecast_skill": "Skill of the selected forecaster against the seasonal-naive 24 h baseline by lead time, per "
                      "zone (above 0: better than 'same hour yesterday').",
    "scheduler_front": "The carbon-aware router's carbon–latency trade-off per scenario: the weighted policy's "
                       "sweep (dashed) and each fixed policy (markers), gCO2e per 1,000 requests against p95 latency.",
    "spiking_firing_rates": "Per-layer firing rates of the spiking self-attention neurons (Q, K, V and attention "
                            "output).",
    "amortization": "Lifecycle joules per inference (fine-tune + build + N measured inferences, over N) against "
                    "deployment volume N, per variant.",
}


def _cap_accuracy(d):
    acc = d["accuracy"]
    ok = acc[acc.status == "ok"]
    nums = []
    for device, g in ok.groupby("device"):
        base = g[g.variant == style.BASELINE]
        if len(base):
            b = base.iloc[0]
            nums.append(f"{device}: fp32 {_ci(b.accuracy, b.ci_low, b.ci_high, 4)}")
        best, worst = g.loc[g.accuracy.idxmax()], g.loc[g.accuracy.idxmin()]
        nums.append(f"{device}: {len(g)} variants evaluated; highest {best.variant} {_g(best.accuracy, 4)}, lowest "
                    f"{worst.variant} {_g(worst.accuracy, 4)} ({_g(100 * worst.delta_vs_fp32, 3)} pts vs fp32)")
    na = acc[acc.status != "ok"]
    if len(na):
        nums.append("not applicable: " + "; ".join(f"{v} on {dv}" for v, dv in zip(na.variant, na.device)))
    return CAPTION_WHAT["accuracy_by_variant"], nums


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
        nums.append(f"highest throughput: {r.variant} at batch {r.batch_size}, {_g(r['mean'])} inferences/s on {r.device}")
        nums.append(f"{thr.groupby(['device', 'variant', 'batch_size', 'padding', 'mode']).ngroups} measured cells")
    return CAPTION_WHAT["latency_vs_throughput"], nums


def _cap_energy(d):
    j = _metric(d["energy"], J)
    nums = []
    for device, g in j.groupby("device"):
        setting = main_setting(g)
        g = g[(g.padding == setting[0]) & (g["mode"] == setting[1])]
        for batch, gb in g.groupby("batch_size"):
            best = gb.loc[gb["mean"].idxmin()]
            base = gb[gb.variant == style.BASELINE]
            ratio = (f", {_g(best['mean'] / base['mean'].iloc[0], 3)}× fp32 ({_g(base['mean'].iloc[0])} J)"
                     if len(base) else "")
            nums.append(f"{device}, batch {batch}: lowest {best.variant} {_ci(best['mean'], best.ci_low, best.ci_high)} "
                        f"J/inference ({best.energy_label}){ratio}")
    return CAPTION_WHAT["energy_by_batch"], nums


def _cap_pareto(d):
    f = d["front"]
    nums = []
    for (device, model), g in f.groupby(["device", "model"]):
        front = g[g.on_front.astype(bool)].sort_values("j")
        unc = g[g.on_uncertain_front.astype(bool)]
        nums.append(f"{device} · {model}: {len(g)} variants; front ({len(front)}): " + ", ".join(
            f"{r.variant} (batch {r.batch_size}, {_g(r.j)} J, accuracy {_g(r.accuracy, 4)})" for r in front.itertuples()))
        nums.append(f"{device} · {model}: {len(unc)} not clearly dominated at 95%: " + ", ".join(style.ordered(unc.variant)))
        cells = g.groupby(["batch_size", "padding", "mode"]).size()
        nums.append("cells: " + "; ".join(f"batch {b}, {p} padding, {m}: {n} variants" for (b, p, m), n in cells.items()))
    return CAPTION_WHAT["pareto_accuracy_energy"], nums


def _cap_difficulty(d):
    by_len, by_conf = difficulty_tables(d["predictions"])
    energy_len, batch = length_energy_table(d["by_length"])
    nums = []
    for name, t, unit in (("length", by_len, "tokens"), ("confidence", by_conf, "")):
        b = t[t.variant == style.BASELINE].sort_values("order") if len(t) else t
        if len(b):
            nums.append(f"fp32 accuracy by {name}: " + ", ".join(f"{lab}{' ' + unit if unit else ''} {_g(m, 3)} "
                                                                   f"(n={n})" for lab, m, n in zip(b.label, b["mean"], b["size"])))
    b = energy_len[energy_len.variant == style.BASELINE].sort_values("order") if len(energy_len) else energy_len
    if len(b):
        nums.append(f"fp32 J/sentence at batch {batch} ({energy_label(b)}): " + ", ".join(
            f"{lab} tokens {_g(j)}" for lab, j in zip(b.label, b.j_per_inf_gross)))
    return CAPTION_WHAT["difficulty_by_length"], nums


def _cap_router(d):
    share = router_share(d["predictions"])
    if share.empty:
        return CAPTION_WHAT["adaptive_router"], ["no adaptive router in this study"]
    overall = float((share.route * share.n).sum() / share.n.sum())
    return CAPTION_WHAT["adaptive_router"], [f"cheap tier overall: {100 * overall:.1f}% of {int(share.n.sum())} sentences"] + [
        f"{lab} tokens: {100 * s:.1f}%" for lab, s in zip(share.label, share.route)]


def _cap_forecast(d):
    f = d["forecasts"]
    if f.empty:
        return CAPTION_WHAT["forecast_vs_actual"], []
    zone = sorted(f.zone.unique())[0]
    g = f[(f.zone == zone) & (f.lead_h <= 24)]
    nums = [f"zone {zone}, leads 1–24 h, {g.origin.nunique()} forecast origins"]
    for model, m in g.groupby("model"):
        mape = float((100 * (m.forecast - m.actual).abs() / m.actual.abs()).mean())
        nums.append(f"{model}: MAPE {mape:.1f}% over the test period")
    return CAPTION_WHAT["forecast_vs_actual"], nums


def _cap_mape(d):
    m = d["forecast_metrics"]
    if m.empty:
        return CAPTION_WHAT["forecast_mape_by_lead"], []
    t = m.groupby(["model", "lead_h"])["mape"].mean().reset_index()
    nums = []
    for model, g in t.groupby("model"):
        first, last = g.loc[g.lead_h.idxmin()], g.loc[g.lead_h.idxmax()]
        nums.append(f"{model}: {first.mape:.1f}% at {first.lead_h} h, {last.mape:.1f}% at {last.lead_h} h")
    return CAPTION_WHAT["forecast_mape_by_lead"], nums


def _cap_skill(d):
    from greenbench.carbon.forecasting import SELECTED, skill_by_lead

    m = d["forecast_metrics"]
    if m.empty or SELECTED not in set(m.model):
        return CAPTION_WHAT["forecast_skill"], ["no selected forecaster in the metrics"]
    s = skill_by_lead(m)
    s = s[s.model == SELECTED]
    return CAPTION_WHAT["forecast_skill"], [f"{zone}: mean skill {g.skill.mean():+.3f} over leads {g.lead_h.min()}–"
                                            f"{g.lead_h.max()} h" for zone, g in s.groupby("zone")]


def _cap_schedule(d):
    s = d["schedule"]
    if s.empty:
        return CAPTION_WHAT["scheduler_front"], []
    nums = []
    for scenario, g in s.groupby("scenario", sort=False):
        fixed = g[g.policy != "weighted"].drop_duplicates("policy").set_index("policy")
        nums.append(f"{scenario}: " + ", ".join(f"{p} {_g(r.g_per_1000_requests, 4)} g at p95 {_g(r.latency_p95_ms)} ms"
                                                for p, r in fixed.iterrows()))
    return CAPTION_WHAT["scheduler_front"], nums


def _cap_firing(d):
    t = firing_table(d["eval_summary"])
    if t.empty:
        return CAPTION_WHAT["spiking_firing_rates"], ["no spiking variant in this study"]
    return CAPTION_WHAT["spiking_firing_rates"], [f"{t.run.iloc[0]}: mean rate " + ", ".join(
        f"{n} {t[t.neuron == n].rate.mean():.3f}" for n in ["q", "k", "v", "out"] if n in set(t.neuron))
        + f" over {t.layer.nunique()} layers"]


def _cap_amortization(d):
    c = d["curves"]
    if c.empty or c.total_j.isna().all():
        return CAPTION_WHAT["amortization"], ["no build energy or no measured J/inference"]
    c = c.dropna(subset=["total_j"])
    top = c[c.inferences == c.inferences.max()]
    best = top.loc[top.j_per_inference.idxmin()]
    small = c[c.inferences == c.inferences.min()]
    worst = small.loc[small.j_per_inference.idxmax()]
    return CAPTION_WHAT["amortization"], [
        f"at N = {int(best.inferences):,}: lowest {best.variant} {_g(best.j_per_inference)} J/inference ({best.device})",
        f"at N = {int(worst.inferences):,}: highest {worst.variant} {_g(worst.j_per_inference)} J/inference, build included"]


CAPTIONS: dict[str, Callable] = {
    "accuracy_by_variant": _cap_accuracy, "latency_vs_throughput": _cap_latency, "energy_by_batch": _cap_energy,
    "pareto_accuracy_energy": _cap_pareto, "difficulty_by_length": _cap_difficulty, "adaptive_router": _cap_router,
    "forecast_vs_actual": _cap_forecast, "forecast_mape_by_lead": _cap_mape, "forecast_skill": _cap_skill,
    "scheduler_front": _cap_schedule, "spiking_firing_rates": _cap_firing, "amortization": _cap_amortization,
}


# ---- all figures ------------------------------------------------------------------------------------

def save(fig, stem: str | Path) -> list[Path]:
    """Write ``stem``.pdf and ``stem``.png atomically."""
    import matplotlib.pyplot as plt

    stem = Path(stem)
    outs = []
    for ext in ("pdf", "png"):
        final = stem.with_suffix(f".{ext}")
        with io.atomic_file(final) as tmp:
            fig.savefig(tmp, format=ext, dpi=style.DPI, bbox_inches="tight", pad_inches=0.03)
        outs.append(final)
    plt.close(fig)
    return outs


def build_all(data: dict[str, Any]) -> dict[str, Any]:
    """Every figure (name -> matplotlib Figure) from the loaded tables (``load``)."""
    front = data["front"]
    figs = {
        "accuracy_by_variant": lambda: fig_accuracy(data["accuracy"], front),
        "latency_vs_throughput": lambda: fig_latency(data["energy"], front),
        "energy_by_batch": lambda: fig_energy_by_batch(data["energy"], data["accuracy"], front),
        "pareto_accuracy_energy": lambda: fig_pareto(front, data["accuracy"]),
        "difficulty_by_length": lambda: fig_difficulty(data["predictions"], data["by_length"], front),
        "adaptive_router": lambda: fig_router(data["predictions"]),
        "forecast_vs_actual": lambda: _single(forecast_vs_actual, data["forecasts"]),
        "forecast_mape_by_lead": lambda: _single(mape_by_lead, data["forecast_metrics"], size=(style.SINGLE * 1.5, 2.2)),
        "forecast_skill": lambda: _single(forecast_skill, data["forecast_metrics"], size=(style.SINGLE * 1.5, 2.4)),
        "scheduler_front": lambda: _single(scheduler_front, data["schedule"], size=(style.DOUBLE, 2.8)),
        "spiking_firing_rates": lambda: _single(firing_rates, data["eval_summary"], size=(style.SINGLE * 1.4, 2.2)),
        "amortization": lambda: _single(amortization, data["curves"], size=(style.DOUBLE, 3.0)),
    }
    return figs


def load(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
         schedule_path, eval_summary_path, energy_by_length_path, amortization_curves_path=None) -> dict[str, Any]:
    from greenbench.analysis.amortization import CURVE_SCHEMA
    from greenbench.carbon.routing import read_results

    accuracy, energy = io.read_parquet(accuracy_path), io.read_parquet(energy_path)
    return {
        "accuracy": accuracy, "energy": energy, "points": io.read_parquet(points_path),
        "front": pareto_table(energy, accuracy),
        "predictions": _predictions(list(prediction_files)),
        "by_length": io.read_parquet(energy_by_length_path),
        "forecasts": io.read_parquet(forecasts_path),
        "forecast_metrics": io.read_parquet(forecast_metrics_path),
        "schedule": read_results(schedule_path),
        "eval_summary": io.read_parquet(eval_summary_path),
        "curves": (io.read_parquet(amortization_curves_path) if amortization_curves_path
                   else pd.DataFrame(columns=CURVE_SCHEMA.names)),
    }


def write_all(data: dict[str, Any], out_dir: str | Path, names=None) -> tuple[list[Path], dict[str, list[str]]]:
    """Draw, check, save and caption every figure; returns the files and each figure's layout problems."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outs, problems = [], {}
    texts = captions(data)
    for name, build in build_all(data).items():
        if names is not None and name not in names:
            continue
        fig = build()
        problems[name] = check_layout(fig)
        for p in problems[name]:
            log.warning("figure %s: %s", name, p)
        outs += save(fig, out_dir / name)
        caption = out_dir / f"{name}.rst"
        with io.atomic_file(caption) as tmp:
            Path(tmp).write_text(texts.get(name, name) + "\n")
        outs.append(caption)
    return outs, problems


def make_all(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
             schedule_path, eval_summary_path, energy_by_length_path, out_dir, amortization_curves_path=None) -> list[Path]:
    data = load(accuracy_path, energy_path, points_path, prediction_files, forecasts_path, forecast_metrics_path,
                schedule_path, eval_summary_path, energy_by_length_path, amortization_curves_path)
    outs, problems = write_all(data, out_dir)
    log.info("wrote %d figure files to %s (%d layout problems)", len(outs), out_dir,
             sum(len(p) for p in problems.values()))
    return outs
