"""Statistics over the measurement trials and evaluations -> tidy tables under results/stats/."""

from __future__ import annotations

from greenbench.core.names import REFERENCE_VARIANT
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io
from greenbench.analysis import paired_accuracy, stats
from greenbench.measure.energy import stopping
from greenbench.measure.energy.rows import metric_of, usable  # noqa: F401  (re-exported)
from greenbench.core.names import with_runtime
from greenbench.core.log import get_logger

log = get_logger(__name__)

# a cell's variant is <recipe> (PyTorch eager) or <recipe>@<runtime>; recipe and runtime are that name split
CELL = ["device", "model", "variant", "recipe", "runtime", "batch_size", "padding", "mode"]
VARIANT_KEYS = ("variant", "recipe", "runtime")
METRICS = ["latency_p50_ms", "latency_p95_ms", "throughput_per_s", "j_per_inf_gross", "j_per_inf_net"]

F64, I64, STR = pa.float64(), pa.int64(), pa.string()
CELL_FIELDS = [
    ("device", STR),
    ("model", STR),
    ("variant", STR),
    ("recipe", STR),
    ("runtime", STR),
    ("batch_size", I64),
    ("padding", STR),
    ("mode", STR),
]
ENERGY_STATS_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("metric", STR),
        ("n_trials", I64),
        ("mean", F64),
        ("sd", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        ("cv", F64),
        ("energy_label", STR),
        # per cell (the same on each of its metric rows): its measured rows without a net J/inference value
        # and why (``net_unavailable``: e.g. "idle ≥ gross", the meter could not resolve load above idle)
        ("net_unavailable_rows", I64),
        ("net_unavailable_reason", STR),
    ]
)
ACCURACY_SCHEMA = pa.schema(
    [
        ("device", STR),
        ("model", STR),
        ("variant", STR),
        ("recipe", STR),
        ("runtime", STR),
        ("status", STR),
        ("reason", STR),
        ("examples", I64),
        ("accuracy", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        # against fp32 on the same device, model and sentences (greenbench.analysis.paired_accuracy): the
        # difference (a fraction), its paired bootstrap interval, the exact McNemar p-value and the discordant
        # sentences (fp32 right and the variant wrong; the reverse); fp32 itself: 0, [0, 0], p = 1, 0 and 0
        ("delta_vs_fp32", F64),
        ("delta_ci_low", F64),
        ("delta_ci_high", F64),
        ("mcnemar_p", F64),
        ("n_fp32_only", I64),
        ("n_variant_only", I64),
        # footprint and compute per sentence (greenbench.measure.macs; theoretical energy is a model)
        ("parameters", F64),
        ("size_bytes", F64),
        ("macs_dense", F64),
        ("macs_effective", F64),
        ("acs", F64),
        ("theoretical_energy_uj", F64),
    ]
)
COMPUTE_KEYS = ("macs_dense", "macs_effective", "acs", "theoretical_energy_uj")
# ratio: geometric mean of the per-trial ratios; interval: Student t on the log ratios with the SD of
# the first stage of trials (Stein's two-stage interval, greenbench.measure.energy.stopping; with no later trials, the
# plain t interval), exact under sequential stopping where a percentile bootstrap of 3-8 pairs undercovers
RATIO_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("metric", STR),
        ("baseline", STR),
        ("n_pairs", I64),
        ("ratio", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        ("half_width", F64),
        ("p_value", F64),
        ("p_holm", F64),
        ("effect_size_dz", F64),
        ("energy_label", STR),
    ]
)
# per measured cell: trials it took and what its J/inf and ratio intervals achieved against the target
STOPPING_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("trials", I64),
        ("first_stage", I64),
        ("target", F64),
        ("metric", STR),
        ("j_per_inf", F64),
        ("j_half_width", F64),
        ("ratio_half_width", F64),
        ("outcome", STR),
    ]
)
CARBON_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("grid", STR),
        ("intensity_g_per_kwh", F64),
        ("g_per_1000_inf", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        ("energy_label", STR),
    ]
)
OVERHEAD_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("n_pairs", I64),
        ("energy_ratio_on_off", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        ("throughput_ratio_on_off", F64),
        ("energy_label", STR),
    ]
)
LENGTH_SCHEMA = pa.schema(
    CELL_FIELDS
    + [
        ("length_bin", STR),
        ("bin_lo", I64),
        ("n_trials", I64),
        ("share_of_inferences", F64),
        ("share_of_seconds", F64),
        ("j_per_inf_gross", F64),
        ("ci_low", F64),
        ("ci_high", F64),
        ("energy_label", STR),
    ]
)


def _label(group: pd.DataFrame) -> str:
    labels = sorted(set(group["energy_label"].dropna()))
    return "+".join(labels) if labels else "unavailable"


# why a measured row has no net J/inference (greenbench.measure.energy.window.result_row says it in the flags)
NET_IDLE_ABOVE_GROSS = "idle ≥ gross"
NET_NO_IDLE = "idle power unavailable"
NET_NO_GROSS = "no gross energy value"
NET_UNSAID = "not recorded"


def _net_reason(row: Mapping[str, Any]) -> str:
    """Why one measured row has no net J/inference value."""
    flags = str(row.get("flags") or "")
    if pd.isna(row.get("j_per_inf_gross")):
        return NET_NO_GROSS
    if "net energy not resolvable" in flags:
        return NET_IDLE_ABOVE_GROSS
    if "idle power unavailable" in flags:
        return NET_NO_IDLE
    return NET_UNSAID


def net_unavailable(cell: pd.DataFrame) -> tuple[int, str]:
    """A cell's measured rows without a net J/inference value and why: one reason ("idle ≥ gross"), or
    each with its count, most frequent first ("idle ≥ gross (2); no gross energy value (1)"); ``(0, "")``
    when every row has one."""
    missing = cell[cell["j_per_inf_net"].isna()] if "j_per_inf_net" in cell else cell
    if missing.empty:
        return 0, ""
    counts = pd.Series([_net_reason(r) for r in missing.to_dict("records")]).value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    if len(counts) == 1:
        return len(missing), str(counts.index[0])
    return len(missing), "; ".join(f"{reason} ({n})" for reason, n in counts.items())


def net_reason_counts(rows: int, reason: str) -> dict[str, int]:
    """``net_unavailable``'s reason text back into its count per reason (one reason: all ``rows``)."""
    import re

    if not rows or not isinstance(reason, str) or not reason:
        return {}
    parts = [re.fullmatch(r"(.*) \((\d+)\)", part) for part in reason.split("; ")]
    if len(parts) == 1 and parts[0] is None:
        return {reason: int(rows)}
    return {m.group(1): int(m.group(2)) for m in parts if m is not None}


def energy_stats(measurements: pd.DataFrame, n_boot: int, level: float, seed: int) -> pd.DataFrame:
    rows = []
    for key, g in usable(measurements).groupby(CELL, sort=True):
        net_rows, net_reason = net_unavailable(g)
        for metric in METRICS:
            values = g[metric].dropna().to_numpy(dtype=float)
            row = dict(
                zip(CELL, key),
                metric=metric,
                n_trials=len(values),
                energy_label=_label(g) if metric.startswith("j_") else "measured",
                net_unavailable_rows=net_rows,
                net_unavailable_reason=net_reason,
            )
            if len(values):
                ci = stats.bootstrap_ci(values, n_boot=n_boot, level=level, seed=seed)
                row.update(
                    mean=ci.estimate,
                    sd=float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                    ci_low=ci.low,
                    ci_high=ci.high,
                    cv=stats.cv(values),
                )
            else:
                row.update(mean=np.nan, sd=np.nan, ci_low=np.nan, ci_high=np.nan, cv=np.nan, energy_label="unavailable")
            rows.append(row)
    return pd.DataFrame(rows, columns=ENERGY_STATS_SCHEMA.names)


def accuracy_stats(prediction_files: list[str | Path], n_boot: int, level: float, seed: int) -> pd.DataFrame:
    """Accuracy per evaluated cell with its bootstrap interval over sentences, and its difference to
    fp32 on the same device and model, paired by sentence (``paired_accuracy``: the same resamples of
    sentences, seed and level). Sentence sets that differ between a variant and fp32 are an error."""
    rows, correct = [], {}
    for path in prediction_files:
        meta = io.read_metadata(path)
        preds = io.read_parquet(path)
        row = {
            "device": meta["device"],
            "model": meta["model"],
            "variant": meta["variant"],
            "status": meta["status"],
            "reason": meta.get("reason") or "",
            "examples": len(preds),
        }
        if len(preds):
            ci = stats.bootstrap_ci(
                (preds.prediction == preds.label).to_numpy(float), n_boot=n_boot, level=level, seed=seed
            )
            row.update(accuracy=ci.estimate, ci_low=ci.low, ci_high=ci.high)
            correct[(row["device"], row["model"], row["variant"])] = (path, preds)
        compute = meta.get("compute") or {}
        row.update({key: compute.get(key) for key in COMPUTE_KEYS})
        row.update(parameters=meta.get("parameters"), size_bytes=meta.get("size_bytes"))
        rows.append(row)
    for row in rows:
        base = correct.get((row["device"], row["model"], REFERENCE_VARIANT))
        own = correct.get((row["device"], row["model"], row["variant"]))
        if base is None or own is None or row["status"] != "ok":
            continue
        ref_ok, var_ok = paired_accuracy.aligned_correct(base[1], own[1], f"{own[0]} against {base[0]}")
        pair = paired_accuracy.paired_delta(ref_ok, var_ok, n_boot=n_boot, level=level, seed=seed)
        row.update(
            delta_vs_fp32=pair.delta,
            delta_ci_low=pair.low,
            delta_ci_high=pair.high,
            mcnemar_p=pair.p_mcnemar,
            n_fp32_only=pair.n_fp32_only,
            n_variant_only=pair.n_variant_only,
        )
    df = pd.DataFrame(rows, columns=[c for c in ACCURACY_SCHEMA.names if c not in ("recipe", "runtime")])
    df = with_runtime(df)[ACCURACY_SCHEMA.names]
    numeric = ["parameters", "size_bytes", *COMPUTE_KEYS]
    df[numeric] = df[numeric].astype(float)
    return df.sort_values(["device", "model", "variant"]).reset_index(drop=True)


def _baseline_of(m: pd.DataFrame, key: tuple) -> pd.DataFrame:
    base = m
    for col, val in zip(CELL, key):
        if col not in VARIANT_KEYS:
            base = base[base[col] == val]
    return base[base.variant == REFERENCE_VARIANT]


def paired_ratios(measurements: pd.DataFrame, first_stage: int, level: float) -> pd.DataFrame:
    """Each variant against fp32 in the same trial and cell (paired), with Holm-corrected tests."""
    m = usable(measurements)
    rows = []
    for key, g in m.groupby(CELL, sort=True):
        if key[2] == REFERENCE_VARIANT:
            continue
        merged = g.merge(_baseline_of(m, key), on="trial", suffixes=("", "_base"))
        for metric in METRICS:
            pair = merged[["trial", metric, f"{metric}_base"]].dropna()
            row = dict(
                zip(CELL, key),
                metric=metric,
                baseline=REFERENCE_VARIANT,
                n_pairs=len(pair),
                energy_label=_label(g) if metric.startswith("j_") else "measured",
            )
            if len(pair) and (pair[f"{metric}_base"] > 0).all() and (pair[metric] > 0).all():
                ci = stopping.paired_log_ratio_by_trial(
                    pair[metric], pair[f"{metric}_base"], pair.trial, first_stage, level
                )
                p, d = stats.paired_test(pair[metric], pair[f"{metric}_base"])
                if ci is None:
                    row.update(ratio=float(np.exp(np.log(pair[metric] / pair[f"{metric}_base"]).mean())))
                else:
                    row.update(
                        ratio=ci.estimate, ci_low=ci.low, ci_high=ci.high, half_width=stopping.relative_half_width(ci)
                    )
                row.update(p_value=p, effect_size_dz=d)
            rows.append(row)
    df = pd.DataFrame(rows, columns=RATIO_SCHEMA.names)
    df["p_holm"] = stats.holm(df["p_value"].to_numpy(dtype=float)) if len(df) else []
    return df


def stopping_table(
    measurements: pd.DataFrame, ratios: pd.DataFrame, first_stage: int, targets: Mapping[str, float], level: float
) -> pd.DataFrame:
    """What sequential stopping achieved per cell: trials, the J/inf interval's and the ratio's
    relative half-widths (Stein), and whether they reached the target, the cap stopped them, or the cell got
    no trial beyond the first stage because it could not change the conclusions (``not a contender``)."""
    m = usable(measurements)
    rows = []
    for key, g in m.groupby(CELL, sort=True):
        metric = metric_of(g)
        values = g.sort_values("trial")
        values = values[values[metric] > 0]
        target = float(targets.get(key[0], 0) or 0)
        row = dict(zip(CELL, key), trials=len(values), first_stage=first_stage, target=target, metric=metric)
        n0 = int((values.trial < first_stage).sum())
        if n0 >= 2:
            ci = stopping.log_interval(values[metric].to_numpy(float), n0, level)
            row.update(j_per_inf=ci.estimate, j_half_width=stopping.relative_half_width(ci))
        r = ratios[(ratios.metric == metric)]
        for col, val in zip(CELL, key):
            r = r[r[col] == val]
        row["ratio_half_width"] = float(r.half_width.iloc[0]) if len(r) else np.nan
        widths = [w for w in (row.get("j_half_width"), row["ratio_half_width"]) if w is not None and np.isfinite(w)]
        if not widths:
            row["outcome"] = "no interval"
        elif not target:
            row["outcome"] = "fixed trials"
        elif max(widths) <= target + 1e-9:
            row["outcome"] = "target"
        else:  # short of the target: stopped by the cap, or given no later trial (energy.stopping.contenders)
            row["outcome"] = "cap" if len(values) > first_stage else "not a contender"
        rows.append(row)
    return pd.DataFrame(rows, columns=STOPPING_SCHEMA.names)


def carbon_table(
    measurements: pd.DataFrame, intensities: Mapping[str, float], n_boot: int, level: float, seed: int
) -> pd.DataFrame:
    rows = []
    for key, g in usable(measurements).groupby(CELL, sort=True):
        values = g["j_per_inf_gross"].dropna().to_numpy(float)
        if not len(values):
            continue
        ci = stats.bootstrap_ci(values, n_boot=n_boot, level=level, seed=seed)
        for grid, intensity in sorted(intensities.items()):
            rows.append(
                dict(
                    zip(CELL, key),
                    grid=grid,
                    intensity_g_per_kwh=float(intensity),
                    g_per_1000_inf=stats.gco2_per_1000(ci.estimate, intensity),
                    ci_low=stats.gco2_per_1000(ci.low, intensity),
                    ci_high=stats.gco2_per_1000(ci.high, intensity),
                    energy_label=_label(g),
                )
            )
    return pd.DataFrame(rows, columns=CARBON_SCHEMA.names)


def length_split(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dynamic-padding window's gross energy split over its token-length bins in proportion to the
    time spent on each (power taken as constant within the window): J per inference per bin."""
    profile = json.loads(row["length_profile"])
    total_s = sum(b["seconds"] for b in profile.values())
    total_j = float(row["j_per_inf_gross"]) * int(row["inferences"])
    return [
        {
            "length_bin": key,
            "bin_lo": b["lo"],
            "inferences": b["inferences"],
            "seconds": b["seconds"],
            "j_per_inf": total_j * b["seconds"] / total_s / b["inferences"],
        }
        for key, b in profile.items()
        if b["inferences"] and total_s > 0
    ]


def energy_by_length(measurements: pd.DataFrame, n_boot: int, level: float, seed: int) -> pd.DataFrame:
    """Gross J per inference by sentence-length bin for every dynamic-padding cell, over trials
    (an attribution of measured energy by measured time, labelled with the meter's label)."""
    m = usable(measurements)
    if "length_profile" not in m:
        return pd.DataFrame(columns=LENGTH_SCHEMA.names)
    m = m[(m.padding == "dynamic") & m.length_profile.notna() & m.j_per_inf_gross.notna()]
    parts = [
        dict(zip(CELL, (r[c] for c in CELL)), trial=r["trial"], energy_label=r["energy_label"], **part)
        for r in m.to_dict("records")
        for part in length_split(r)
    ]
    if not parts:
        return pd.DataFrame(columns=LENGTH_SCHEMA.names)
    split = pd.DataFrame(parts)
    rows = []
    for key, cell in split.groupby(CELL, sort=True):
        totals = cell.groupby("length_bin")[["inferences", "seconds"]].sum()
        for (length_bin, lo), g in cell.groupby(["length_bin", "bin_lo"], sort=False):
            values = g["j_per_inf"].to_numpy(dtype=float)
            ci = stats.bootstrap_ci(values, n_boot=n_boot, level=level, seed=seed)
            rows.append(
                dict(
                    zip(CELL, key),
                    length_bin=length_bin,
                    bin_lo=int(lo),
                    n_trials=len(values),
                    share_of_inferences=float(totals.loc[length_bin, "inferences"] / totals["inferences"].sum()),
                    share_of_seconds=float(totals.loc[length_bin, "seconds"] / totals["seconds"].sum()),
                    j_per_inf_gross=ci.estimate,
                    ci_low=ci.low,
                    ci_high=ci.high,
                    energy_label=_label(g),
                )
            )
    return pd.DataFrame(rows, columns=LENGTH_SCHEMA.names).sort_values(CELL + ["bin_lo"]).reset_index(drop=True)


def overhead(measurements: pd.DataFrame, n_boot: int, level: float, seed: int) -> pd.DataFrame:
    """Harness overhead: the same cell with the power sampler on vs off, paired by trial."""
    m = with_runtime(measurements)
    m = m[(m.status == "ok") & m.valid.astype(bool)]
    off = m[~m.sampler.astype(bool)]
    rows = []
    for key, g in off.groupby(CELL, sort=True):
        on = m[m.sampler.astype(bool)]
        for col, val in zip(CELL, key):
            on = on[on[col] == val]
        merged = on.merge(g, on="trial", suffixes=("_on", "_off")).dropna(
            subset=["j_per_inf_gross_on", "j_per_inf_gross_off"]
        )
        row = dict(zip(CELL, key), n_pairs=len(merged), energy_label=_label(g))
        if len(merged):
            ci = stats.paired_ratio(
                merged.j_per_inf_gross_on, merged.j_per_inf_gross_off, n_boot=n_boot, level=level, seed=seed
            )
            row.update(
                energy_ratio_on_off=ci.estimate,
                ci_low=ci.low,
                ci_high=ci.high,
                throughput_ratio_on_off=float(merged.throughput_per_s_on.mean() / merged.throughput_per_s_off.mean()),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=OVERHEAD_SCHEMA.names)


def aggregate(
    measurements_path: str | Path,
    prediction_files: list[str | Path],
    out_dir: str | Path,
    cfg: Mapping[str, Any],
    seed: int,
) -> dict[str, pd.DataFrame]:
    """Every statistics table but the carbon one (``write_carbon_table``: only it reads the grids'
    intensities, so editing them reruns no other statistic), one file each in ``out_dir``."""
    measurements = io.read_parquet(measurements_path)
    n_boot, level = int(cfg["bootstrap"]), float(cfg["confidence"])
    # the trials every cell ran; without the setting, every trial counts as first stage
    first_stage = int(cfg.get("first_stage") or (measurements.trial.max() + 1 if len(measurements) else 0))
    ratios = paired_ratios(measurements, first_stage, level)
    out_dir = Path(out_dir)
    tables = {
        "energy": (energy_stats(measurements, n_boot, level, seed), ENERGY_STATS_SCHEMA),
        "accuracy": (accuracy_stats(prediction_files, n_boot, level, seed), ACCURACY_SCHEMA),
        "ratios": (ratios, RATIO_SCHEMA),
        "stopping": (
            stopping_table(measurements, ratios, first_stage, cfg.get("targets") or {}, level),
            STOPPING_SCHEMA,
        ),
        "overhead": (overhead(measurements, n_boot, level, seed), OVERHEAD_SCHEMA),
        "energy_by_length": (energy_by_length(measurements, n_boot, level, seed), LENGTH_SCHEMA),
    }
    meta = {"bootstrap": n_boot, "confidence": level, "seed": seed, "source": str(measurements_path)}
    for name, (df, schema) in tables.items():
        io.write_parquet(df, out_dir / f"{name}.parquet", schema, meta)
    log.info("aggregated %d measurement rows into %s", len(measurements), out_dir)
    return {name: df for name, (df, _) in tables.items()}


def write_carbon_table(
    measurements_path: str | Path, out: str | Path, cfg: Mapping[str, Any], seed: int
) -> pd.DataFrame:
    """gCO2e per 1,000 inferences per cell and grid (``carbon_table``) into ``out``, with the bootstrap,
    level and seed the other statistics tables use (``aggregate``): the same intervals, the same file."""
    measurements = io.read_parquet(measurements_path)
    n_boot, level = int(cfg["bootstrap"]), float(cfg["confidence"])
    df = carbon_table(measurements, cfg["grid_intensities"], n_boot, level, seed)
    meta = {"bootstrap": n_boot, "confidence": level, "seed": seed, "source": str(measurements_path)}
    io.write_parquet(df, out, CARBON_SCHEMA, meta)
    log.info(
        "carbon table of %d cells at %d grids in %s",
        df[CELL].drop_duplicates().shape[0],
        len(cfg["grid_intensities"]),
        out,
    )
    return df
