"""Text against data and against other text: ``place_labels`` puts point labels where they cover
nothing, ``check_layout`` lists what a reader would see overlap (for the tests and the figures job's
log), ``figure_texts``/``labels_variant`` read a figure's texts back."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from greenbench.report import style
from greenbench.report.figures.common import REFERENCE


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
            if artist in exclude or id(artist) in whiskers or not artist.get_visible() or artist.get_gid() == REFERENCE:
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
    return int(
        np.sum(
            (pts[:, 0] > bbox.x0 + shrink)
            & (pts[:, 0] < bbox.x1 - shrink)
            & (pts[:, 1] > bbox.y0 + shrink)
            & (pts[:, 1] < bbox.y1 - shrink)
        )
    )


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
            t = ax.annotate(
                text,
                (x, y),
                xytext=off,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=fontsize,
                fontweight="bold" if strong else "normal",
                arrowprops=arrow,
                zorder=5,
            )
            bb = _text_box(t, renderer)
            ok = (
                bb.x0 >= box.x0 + 1
                and bb.x1 <= box.x1 - 1
                and bb.y0 >= box.y0 + 1
                and bb.y1 <= box.y1 - 1
                and _hits(bb.expanded(1.0, 1.0), data, 0) == 0
                and not any(_overlap(bb, p, 0) for p in placed)
            )
            if ok:
                best = t
                placed.append(bb)
                break
            t.remove()
        if best is None:  # no free spot: keep the nearest in-frame one and let check_layout say so
            t = ax.annotate(
                text,
                (x, y),
                xytext=(5, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=fontsize,
                zorder=5,
            )
            placed.append(_text_box(t, renderer))
            best = t
        out.append(best)
    return out


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
                    for tick, t in zip(
                        axis.get_minor_ticks() if minor else axis.get_major_ticks(), axis.get_ticklabels(minor=minor)
                    ):
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
