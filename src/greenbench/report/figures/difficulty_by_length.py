"""Where the variants differ: accuracy by sentence length and by confidence, energy by padded
length (the tables, the figure and its caption)."""

from __future__ import annotations

import pandas as pd

from greenbench.core import io
from greenbench.report import style
from greenbench.report.figures.common import (
    _empty,
    _fig_legend,
    _figure,
    _g,
    _groups,
    _legend_handles,
    _log_axis,
    _panel_title,
    energy_label,
    highlighted,
)
from greenbench.report.figures.figure import ACCURACY, Figure, register_figure


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
    rows_spec = [
        ("accuracy", by_len, "mean", "sentence length (tokens)"),
        ("accuracy", by_conf, "mean", "confidence (max softmax)"),
        (
            f"J/sentence ({energy_label(energy_len)}, batch {batch})",
            energy_len,
            "j_per_inf_gross",
            "padded batch length (tokens)",
        ),
    ]
    fig, axes = _figure(style.DOUBLE, 1.2 + 1.55 * 3, 3, len(fams), sharey="row")
    for row, (ylabel, table, value, xlabel) in enumerate(rows_spec):
        cats = table.drop_duplicates("label").sort_values("order")["label"].tolist() if not table.empty else []
        pos = {c: i for i, c in enumerate(cats)}
        for col, fam in enumerate(fams):
            ax = axes[row, col]
            if table.empty:
                _empty(ax, "no data")
                continue
            for v, g in table.groupby("variant"):
                g = g.sort_values("order")
                x = [pos[c] for c in g.label]
                if not (style.group(v) == fam or v == style.REFERENCE_VARIANT):
                    ax.plot(x, g[value], color=style.MUTED, linewidth=0.7, zorder=1)
                    continue
                lk = looks[v]
                ax.plot(
                    x,
                    g[value],
                    color=lk.color,
                    marker=lk.marker,
                    linestyle=lk.linestyle,
                    fillstyle=lk.fillstyle,
                    linewidth=1.6 if v in hi else 1.0,
                    markersize=3.2,
                    zorder=3,
                )
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


WHAT = {
    "difficulty_by_length": "Where the variants differ: accuracy by sentence-length quartile and by confidence bin, "
    "and gross joules per sentence by padded batch length (each window's energy split over "
    "its length bins by measured time); one column per variant family.",
}


def _cap_difficulty(d):
    by_len, by_conf = difficulty_tables(d["predictions"])
    energy_len, batch = length_energy_table(d["by_length"])
    nums = []
    for name, t, unit in (("length", by_len, "tokens"), ("confidence", by_conf, "")):
        b = t[t.variant == style.REFERENCE_VARIANT].sort_values("order") if len(t) else t
        if len(b):
            nums.append(
                f"fp32 accuracy by {name}: "
                + ", ".join(
                    f"{lab}{' ' + unit if unit else ''} {_g(m, 3)} (n={n})"
                    for lab, m, n in zip(b.label, b["mean"], b["size"])
                )
            )
    b = (
        energy_len[energy_len.variant == style.REFERENCE_VARIANT].sort_values("order")
        if len(energy_len)
        else energy_len
    )
    if len(b):
        nums.append(
            f"fp32 J/sentence at batch {batch} ({energy_label(b)}): "
            + ", ".join(f"{lab} tokens {_g(j)}" for lab, j in zip(b.label, b.j_per_inf_gross))
        )
    return WHAT["difficulty_by_length"], nums


register_figure(
    Figure(
        "difficulty_by_length",
        50,
        lambda d: fig_difficulty(d["predictions"], d["by_length"], d["front"]),
        _cap_difficulty,
        WHAT["difficulty_by_length"],
        (ACCURACY, "by difficulty"),
    )
)
