"""The adaptive router's cheap-tier share by sentence length, and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import _empty, _figure
from greenbench.report.figures.figure import ACCURACY, Figure, register_figure


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


WHAT = {
    "adaptive_router": "The adaptive-precision router: share of dev sentences answered by its cheap tier, by "
    "sentence-length quartile.",
}


def _cap_router(d):
    share = router_share(d["predictions"])
    if share.empty:
        return WHAT["adaptive_router"], ["no adaptive router in this study"]
    overall = float((share.route * share.n).sum() / share.n.sum())
    return WHAT["adaptive_router"], [f"cheap tier overall: {100 * overall:.1f}% of {int(share.n.sum())} sentences"] + [
        f"{lab} tokens: {100 * s:.1f}%" for lab, s in zip(share.label, share.route)
    ]


register_figure(
    Figure(
        "adaptive_router",
        60,
        lambda d: fig_router(d["predictions"]),
        _cap_router,
        WHAT["adaptive_router"],
        (ACCURACY, "by difficulty"),
    )
)
