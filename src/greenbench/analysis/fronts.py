"""Pareto fronts over (accuracy, J per inference, latency) for every measured setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io
from greenbench.analysis import pareto
from greenbench.core.names import with_runtime

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


def points_table(accuracy: pd.DataFrame, energy: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, variant) with point estimates and interval ends."""
    wide = energy.pivot_table(index=SETTING + ["variant"], columns="metric", values=["mean", "ci_low", "ci_high"])
    wide.columns = [f"{metric}:{stat}" for stat, metric in wide.columns]
    wide = wide.reset_index()
    for metric in ("j_per_inf_gross", "latency_p50_ms"):  # a metric never measured (no working meter): NaN, so
        for stat in ("mean", "ci_low", "ci_high"):  # fronts are drawn on the objectives that exist
            if f"{metric}:{stat}" not in wide.columns:
                wide[f"{metric}:{stat}"] = np.nan
    labels = energy[energy.metric == "j_per_inf_gross"].set_index(SETTING + ["variant"])["energy_label"]
    wide["energy_label"] = [labels.get(tuple(r)) for r in wide[SETTING + ["variant"]].itertuples(index=False)]
    acc = accuracy[accuracy.status == "ok"][["device", "model", "variant", "accuracy", "ci_low", "ci_high"]]
    acc = acc.rename(columns={"accuracy": "accuracy:mean", "ci_low": "accuracy:ci_low", "ci_high": "accuracy:ci_high"})
    return wide.merge(acc, on=["device", "model", "variant"], how="inner")


def compute_fronts(accuracy: pd.DataFrame, energy: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = points_table(accuracy, energy)
    point_rows, hv_rows = [], []
    for setting, group in table.groupby(SETTING, sort=True):
        for name, objectives in OBJECTIVES.items():
            cols = [c for c, _ in objectives]
            senses = [s for _, s in objectives]
            g = group.dropna(subset=[f"{c}:mean" for c in cols])
            if g.empty:
                continue
            mean = g[[f"{c}:mean" for c in cols]].to_numpy(float)
            low = g[[f"{c}:ci_low" for c in cols]].to_numpy(float)
            high = g[[f"{c}:ci_high" for c in cols]].to_numpy(float)
            low, high = np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high)
            plain = pareto.pareto_front(mean, senses)
            fuzzy = pareto.uncertain_front(low, high, senses)
            for (_, row), on, on_u in zip(g.iterrows(), plain, fuzzy):
                point_rows.append(
                    dict(
                        zip(SETTING, setting),
                        objectives=name,
                        variant=row["variant"],
                        accuracy=row.get("accuracy:mean"),
                        j_per_inf_gross=row.get("j_per_inf_gross:mean"),
                        latency_p50_ms=row.get("latency_p50_ms:mean"),
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


def write_fronts(accuracy_path: str | Path, energy_path: str | Path, points_out: str | Path, hv_out: str | Path):
    points, hv = compute_fronts(io.read_parquet(accuracy_path), io.read_parquet(energy_path))
    io.write_parquet(points, points_out, POINTS_SCHEMA, {"accuracy": str(accuracy_path), "energy": str(energy_path)})
    io.write_parquet(hv, hv_out, HV_SCHEMA, {"accuracy": str(accuracy_path), "energy": str(energy_path)})
    return points, hv
