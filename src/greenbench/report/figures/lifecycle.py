"""Lifecycle J per inference against deployment volume (an ``ax`` function), and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import _empty, _g, _log_axis, _single
from greenbench.report.figures.figure import ENERGY, Figure, register_figure


def amortization(curves: pd.DataFrame, ax) -> None:
    """Lifecycle J per inference (fine-tune + build + N inferences, over N) against deployment volume."""
    if curves.empty or curves.total_j.isna().all():
        return _empty(ax, "no build energy or no measured J/inference (see results/stats/footprint.parquet)")
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
    ax.set_xscale("log")
    _log_axis(ax, "y")
    ax.set_xlabel("inferences served (deployment volume N)")
    ax.set_ylabel("J per inference, build included")
    ax.set_title("(fine-tune + build + N × measured J/inference) / N", fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=1 + (len(looks) > 12))


WHAT = {
    "amortization": "Lifecycle joules per inference (fine-tune + build + N measured inferences, over N) against "
    "deployment volume N, per variant.",
}


def _cap_amortization(d):
    c = d["curves"]
    if c.empty or c.total_j.isna().all():
        return WHAT["amortization"], ["no build energy or no measured J/inference"]
    c = c.dropna(subset=["total_j"])
    top = c[c.inferences == c.inferences.max()]
    best = top.loc[top.j_per_inference.idxmin()]
    small = c[c.inferences == c.inferences.min()]
    worst = small.loc[small.j_per_inference.idxmax()]
    return WHAT["amortization"], [
        f"at N = {int(best.inferences):,}: lowest {best.variant} {_g(best.j_per_inference)} J/inference ({best.device})",
        f"at N = {int(worst.inferences):,}: highest {worst.variant} {_g(worst.j_per_inference)} J/inference, build included",
    ]


register_figure(
    Figure(
        "amortization",
        120,
        lambda d: _single(amortization, d["curves"], size=(style.DOUBLE, 3.0)),
        _cap_amortization,
        WHAT["amortization"],
        (ENERGY, "lifecycle"),
    )
)
