"""Per-layer firing rates of the spiking self-attention neurons (an ``ax`` function), and its caption."""

from __future__ import annotations

import pandas as pd

from greenbench.report.figures.common import _empty, _single
from greenbench.report.figures.figure import ACCURACY, Figure, register_figure
from greenbench.report import style


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
        ax.bar(
            g.index + (i - 1.5) * width,
            g.values,
            width,
            color=colors[i],
            edgecolor="black",
            linewidth=0.4,
            hatch=hatch,
            label=neuron,
        )
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
            rows += [
                {"run": f"{r.variant} ({r.device})", "layer": layer, "neuron": k, "rate": v}
                for k, v in (rates or {}).items()
            ]
    return pd.DataFrame(rows, columns=["run", "layer", "neuron", "rate"])


WHAT = {
    "spiking_firing_rates": "Per-layer firing rates of the spiking self-attention neurons (Q, K, V and attention "
    "output).",
}


def _cap_firing(d):
    t = firing_table(d["eval_summary"])
    if t.empty:
        return WHAT["spiking_firing_rates"], ["no spiking variant in this study"]
    return WHAT["spiking_firing_rates"], [
        f"{t.run.iloc[0]}: mean rate "
        + ", ".join(f"{n} {t[t.neuron == n].rate.mean():.3f}" for n in ["q", "k", "v", "out"] if n in set(t.neuron))
        + f" over {t.layer.nunique()} layers"
    ]


register_figure(
    Figure(
        "spiking_firing_rates",
        110,
        lambda d: _single(firing_rates, d["eval_summary"], size=(style.SINGLE * 1.4, 2.2)),
        _cap_firing,
        WHAT["spiking_firing_rates"],
        (ACCURACY, "spiking"),
    )
)
