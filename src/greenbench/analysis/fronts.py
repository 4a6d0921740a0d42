"""Pareto fronts over (accuracy, J per inference, latency) for every measured setting.

``on_front``: the non-dominated points of the point estimates (accuracy, mean J/inference, mean
latency).

``on_uncertain_front``: the points not *clearly* dominated, judged on **paired** intervals against
fp32 in the same setting: accuracy as the difference to fp32 on the same sentences
(``delta_ci_low``/``delta_ci_high`` of stats/accuracy.parquet, a paired bootstrap over sentences), J
and latency as the ratio to fp32 in the same trial and cell (stats/ratios.parquet, paired by trial).
fp32 is the reference: difference 0 and ratio 1 with zero-width intervals on every axis, by
definition. Precisely: on axis k, point j is *confidently no worse* than point i when j's worst
interval end is at least as good as i's best end (the two intervals are separated, j on the better
side, or they touch at one value, as two zero-width intervals at the same value do), and
*confidently better* when strictly so; i is off the uncertain front iff some j is confidently no
worse on every axis and confidently better on at least one (``pareto.uncertain_front`` on the paired
interval ends). Separation is a conservative comparison for any correlation between j's and i's
estimates (both are paired with the same fp32 runs): the difference of two estimates has a standard
error at most the sum of theirs, so non-overlapping intervals imply a difference at (at least) their
level, and declaring dominance on every axis only errs if one of the per-axis claims does. A point
without a paired interval on an axis (no fp32 in its setting, too few trials for a ratio interval) is
unbounded there: it stays on the uncertain front and removes no other point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io
from greenbench.analysis import pareto
from greenbench.core.names import REFERENCE_VARIANT, with_runtime

SETTING = ["device", "model", "batch_size", "padding", "mode"]
OBJECTIVES = {  # name -> [(column, sense)]
    "accuracy-energy": [("accuracy", 1), ("j_per_inf_gross", -1)],
    "accuracy-latency": [("accuracy", 1), ("latency_p50_ms", -1)],
    "energy-latency": [("j_per_inf_gross", -1), ("latency_p50_ms", -1)],
    "accuracy-energy-latency": [("accuracy", 1), ("j_per_inf_gross", -1), ("latency_p50_ms", -1)],
}
F64, I64, STR, BOOL = pa.float64(), pa.int64(), pa.string(), pa.bool_()
POINTS_SCHEMA = pa.schema(
    [
        ("device", STR),
        ("model", STR),
        ("batch_size", I64),
        ("padding", STR),
        ("mode", STR),
        ("objectives", STR),
        ("variant", STR),
        ("recipe", STR),
        ("runtime", STR),
        ("accuracy", F64),
        ("j_per_inf_gross", F64),
        ("latency_p50_ms", F64),
        # paired against fp32 (the uncertain front's axes): accuracy difference (a fraction) and the
        # J/inference and latency ratios, each with its interval
        ("delta_vs_fp32", F64),
        ("delta_ci_low", F64),
        ("delta_ci_high", F64),
        ("j_ratio", F64),
        ("j_ratio_low", F64),
        ("j_ratio_high", F64),
        ("latency_ratio", F64),
        ("latency_ratio_low", F64),
        ("latency_ratio_high", F64),
        ("on_front", BOOL),
        ("on_uncertain_front", BOOL),
        ("energy_label", STR),
    ]
)
HV_SCHEMA = pa.schema(
    [
        ("device", STR),
        ("model", STR),
        ("batch_size", I64),
        ("padding", STR),
        ("mode", STR),
        ("objectives", STR),
        ("points", I64),
        ("front_size", I64),
        ("hypervolume", F64),
        ("reference", STR),
    ]
)


# each objective's paired axis against fp32: (points_table columns: estimate, low, high), fp32's value
PAIRED = {
    "accuracy": (("delta_vs_fp32", "delta_ci_low", "delta_ci_high"), 0.0),
    "j_per_inf_gross": (("j_ratio", "j_ratio_low", "j_ratio_high"), 1.0),
    "latency_p50_ms": (("latency_ratio", "latency_ratio_low", "latency_ratio_high"), 1.0),
}


def points_table(accuracy: pd.DataFrame, energy: pd.DataFrame, ratios: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (setting, variant) with point estimates and interval ends, and the paired
    quantities against fp32 (``PAIRED``; NaN where there is none)."""
    wide = energy.pivot_table(index=SETTING + ["variant"], columns="metric", values=["mean", "ci_low", "ci_high"])
    wide.columns = [f"{metric}:{stat}" for stat, metric in wide.columns]
    wide = wide.reset_index()
    for metric in ("j_per_inf_gross", "latency_p50_ms"):  # a metric never measured (no working meter): NaN, so
        for stat in ("mean", "ci_low", "ci_high"):  # fronts are drawn on the objectives that exist
            if f"{metric}:{stat}" not in wide.columns:
                wide[f"{metric}:{stat}"] = np.nan
    labels = energy[energy.metric == "j_per_inf_gross"].set_index(SETTING + ["variant"])["energy_label"]
    wide["energy_label"] = [labels.get(tuple(r)) for r in wide[SETTING + ["variant"]].itertuples(index=False)]
    delta_cols = list(PAIRED["accuracy"][0])
    acc = accuracy[accuracy.status == "ok"].reindex(
        columns=["device", "model", "variant", "accuracy", "ci_low", "ci_high", *delta_cols]
    )
    acc = acc.rename(columns={"accuracy": "accuracy:mean", "ci_low": "accuracy:ci_low", "ci_high": "accuracy:ci_high"})
    table = wide.merge(acc, on=["device", "model", "variant"], how="inner")
    for metric in ("j_per_inf_gross", "latency_p50_ms"):
        cols, _ = PAIRED[metric]
        r = (ratios if ratios is not None else pd.DataFrame()).reindex(
            columns=SETTING + ["variant", "metric", "ratio", "ci_low", "ci_high"]
        )
        r = r[r.metric == metric].drop(columns="metric").rename(columns=dict(zip(("ratio", "ci_low", "ci_high"), cols)))
        table = table.merge(r.drop_duplicates(SETTING + ["variant"]), on=SETTING + ["variant"], how="left")
    for name, (cols, value) in PAIRED.items():  # fp32 against itself, by definition
        ref = table.variant == REFERENCE_VARIANT
        if name != "accuracy":
            ref &= table[f"{name}:mean"].notna()
        table.loc[ref, list(cols)] = value
    return table


def paired_bounds(table: pd.DataFrame, objectives: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends of each point's paired interval per objective (``PAIRED``), unbounded where
    there is none (the point can then neither dominate nor be dominated on that axis)."""
    low = np.column_stack([table[PAIRED[c][0][1]].to_numpy(float) for c in objectives])
    high = np.column_stack([table[PAIRED[c][0][2]].to_numpy(float) for c in objectives])
    return pareto.unbounded_where_missing(low, high)


def compute_fronts(
    accuracy: pd.DataFrame, energy: pd.DataFrame, ratios: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = points_table(accuracy, energy, ratios)
    paired_cols = [c for cols, _ in PAIRED.values() for c in cols]
    point_rows, hv_rows = [], []
    for setting, group in table.groupby(SETTING, sort=True):
        for name, objectives in OBJECTIVES.items():
            cols = [c for c, _ in objectives]
            senses = [s for _, s in objectives]
            g = group.dropna(subset=[f"{c}:mean" for c in cols])
            if g.empty:
                continue
            mean = g[[f"{c}:mean" for c in cols]].to_numpy(float)
            plain = pareto.pareto_front(mean, senses)
            fuzzy = pareto.uncertain_front(*paired_bounds(g, cols), senses)
            for (_, row), on, on_u in zip(g.iterrows(), plain, fuzzy):
                point_rows.append(
                    dict(
                        zip(SETTING, setting),
                        objectives=name,
                        variant=row["variant"],
                        accuracy=row.get("accuracy:mean"),
                        j_per_inf_gross=row.get("j_per_inf_gross:mean"),
                        latency_p50_ms=row.get("latency_p50_ms:mean"),
                        **{c: row.get(c) for c in paired_cols},
                        on_front=bool(on),
                        on_uncertain_front=bool(on_u),
                        energy_label=row.get("energy_label"),
                    )
                )
            # reference: the worst value of each objective, nudged beyond it
            ref = [mean[:, i].min() - 1e-9 if s > 0 else mean[:, i].max() * 1.1 + 1e-12 for i, s in enumerate(senses)]
            hv_rows.append(
                dict(
                    zip(SETTING, setting),
                    objectives=name,
                    points=len(g),
                    front_size=int(plain.sum()),
                    hypervolume=pareto.hypervolume(mean, senses, ref),
                    reference=", ".join(f"{c}={r:.6g}" for c, r in zip(cols, ref)),
                )
            )
    points = pd.DataFrame(point_rows, columns=[c for c in POINTS_SCHEMA.names if c not in ("recipe", "runtime")])
    return with_runtime(points)[POINTS_SCHEMA.names], pd.DataFrame(hv_rows, columns=HV_SCHEMA.names)


def write_fronts(
    accuracy_path: str | Path,
    energy_path: str | Path,
    points_out: str | Path,
    hv_out: str | Path,
    ratios_path: str | Path | None = None,
):
    ratios = io.read_parquet(ratios_path) if ratios_path else None
    points, hv = compute_fronts(io.read_parquet(accuracy_path), io.read_parquet(energy_path), ratios)
    meta = {"accuracy": str(accuracy_path), "energy": str(energy_path), "ratios": str(ratios_path)}
    io.write_parquet(points, points_out, POINTS_SCHEMA, meta)
    io.write_parquet(hv, hv_out, HV_SCHEMA, meta)
    return points, hv
