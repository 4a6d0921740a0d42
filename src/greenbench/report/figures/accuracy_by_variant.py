"""Accuracy on SST-2 dev per variant, one panel per device, and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report import style
from greenbench.report.figures.common import (
    _bold_ticks,
    _ci,
    _empty,
    _figure,
    _g,
    _panel_title,
    _ref_line,
    highlighted,
    study_variants,
)
from greenbench.report.figures.figure import ACCURACY, Figure, register_figure


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
            ax.errorbar(
                [r.accuracy],
                [y[r.variant]],
                xerr=[[r.accuracy - r.ci_low], [r.ci_high - r.accuracy]],
                marker=lk.marker,
                color=lk.color,
                markersize=4,
                linestyle="",
                elinewidth=0.8,
                alpha=1.0 if r.variant in hi else 0.55,
            )
        base = ok[ok.variant == style.REFERENCE_VARIANT]
        if len(base):
            _ref_line(ax, float(base.accuracy.iloc[0]), vertical=True)
        if len(ok):
            lo, top = float(ok.ci_low.min()), float(ok.ci_high.max())
            pad = max(0.01, 0.08 * (top - lo))
            ax.set_xlim(max(0.0, lo - pad), min(1.0, top + pad))
        for _, r in d[d.status != "ok"].iterrows():
            ax.text(
                0.02,
                y[r.variant],
                "not applicable here",
                transform=ax.get_yaxis_transform(),
                va="center",
                fontsize=6,
                color="0.35",
                style="italic",
            )
        ax.set_xlabel("accuracy on SST-2 dev (fraction correct; 95% CI)")
        _panel_title(ax, f"{device}" + (f" · {', '.join(sorted(set(d.model)))}" if d.model.nunique() else ""))
        ax.grid(axis="y", visible=False)
    axes[0, 0].set_yticks(range(len(variants)), [looks[v].label for v in variants])
    axes[0, 0].set_ylim(len(variants) - 0.5, -0.5)
    _bold_ticks(axes[0, 0], variants, hi)
    return fig


WHAT = {
    "accuracy_by_variant": "Accuracy on SST-2 dev of every variant of the study with its 95% bootstrap interval "
    "over dev sentences, one panel per device; the dashed line is fp32; variants that do not "
    "apply on a device are named on their row. Bold: the baseline and the accuracy–energy front.",
}


def _cap_accuracy(d):
    acc = d["accuracy"]
    ok = acc[acc.status == "ok"]
    nums = []
    for device, g in ok.groupby("device"):
        base = g[g.variant == style.REFERENCE_VARIANT]
        if len(base):
            b = base.iloc[0]
            nums.append(f"{device}: fp32 {_ci(b.accuracy, b.ci_low, b.ci_high, 4)}")
        best, worst = g.loc[g.accuracy.idxmax()], g.loc[g.accuracy.idxmin()]
        nums.append(
            f"{device}: {len(g)} variants evaluated; highest {best.variant} {_g(best.accuracy, 4)}, lowest "
            f"{worst.variant} {_g(worst.accuracy, 4)} ({_g(100 * worst.delta_vs_fp32, 3)} pts vs fp32)"
        )
    na = acc[acc.status != "ok"]
    if len(na):
        nums.append("not applicable: " + "; ".join(f"{v} on {dv}" for v, dv in zip(na.variant, na.device)))
    return WHAT["accuracy_by_variant"], nums


register_figure(
    Figure(
        "accuracy_by_variant",
        10,
        lambda d: fig_accuracy(d["accuracy"], d["front"]),
        _cap_accuracy,
        WHAT["accuracy_by_variant"],
        (ACCURACY, "by variant"),
    )
)
