"""Paper figures as a reader sees them: every figure drawn from a crowded synthetic study (every
variant of the default CPU study, batch 1/8/64) has no text overlapping text or data and labels
every variant; the layout check catches a deliberately crowded figure; empty inputs give a
'no data' panel; the smoke run's report renders in headless Chromium with its categories and
captions."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenbench import figures, style

CPU = ["fp32", "dense_eager", "int8_dynamic", "int8_dynamic_ao", "bf16", "adaptive", "prune_heads25", "prune_heads50",
       "prune_ffn25", "magnitude50", "topk16", "topk16_ft", "spiking", "fp32@onnxruntime", "int8_dynamic@onnxruntime",
       "fp32@aot_inductor", "bf16@aot_inductor", "int8_dynamic_ao@aot_inductor"]
GPU_ONLY = ["tf32", "fp16", "autocast_fp16", "int8_weight_only", "int4_weight_only"]
BATCHES = (1, 8, 64)
CELL = ["device", "model", "variant", "recipe", "runtime", "batch_size", "padding", "mode"]


def _split(v):
    from greenbench.names import split_name

    return split_name(v)


def synthetic_study(seed: int = 0) -> dict:
    """Tables in the pipeline's schemas for the default CPU study (no carbon outputs)."""
    from greenbench.aggregate import ACCURACY_SCHEMA, ENERGY_STATS_SCHEMA, LENGTH_SCHEMA
    from greenbench.amortization import CURVE_SCHEMA

    rng = np.random.default_rng(seed)
    acc_rows, e_rows, len_rows, preds = [], [], [], []
    base_acc = 0.878
    for v in CPU + GPU_ONLY:
        recipe, runtime = _split(v)
        ok = v in CPU
        a = {"fp32": base_acc, "spiking": 0.80, "prune_heads50": 0.85, "topk16": 0.86}.get(recipe, base_acc - rng.uniform(0, 0.012))
        acc_rows.append({"device": "cpu", "model": "minilm", "variant": v, "recipe": recipe, "runtime": runtime,
                         "status": "ok" if ok else "not_applicable", "reason": "" if ok else "cuda only",
                         "examples": 872, "accuracy": a if ok else np.nan, "ci_low": a - 0.022 if ok else np.nan,
                         "ci_high": a + 0.021 if ok else np.nan, "delta_vs_fp32": a - base_acc if ok else np.nan,
                         **{k: np.nan for k in ("parameters", "size_bytes", "macs_dense", "macs_effective", "acs",
                                                "theoretical_energy_uj")}})
        if not ok:
            continue
        scale = rng.uniform(0.5, 1.6) if v != "fp32" else 1.0
        for b in BATCHES:
            j = 0.05 * scale * (8 / b) ** 0.55
            lat = 4 * scale * b ** 0.8
            for metric, mean in (("j_per_inf_gross", j), ("j_per_inf_net", 0.8 * j), ("latency_p50_ms", lat),
                                 ("latency_p95_ms", lat * 1.2), ("throughput_per_s", 1000 * b / lat)):
                e_rows.append({"device": "cpu", "model": "minilm", "variant": v, "recipe": recipe, "runtime": runtime,
                               "batch_size": b, "padding": "dynamic", "mode": "eager", "metric": metric, "n_trials": 3,
                               "mean": mean, "sd": 0.02 * mean, "ci_low": 0.95 * mean, "ci_high": 1.05 * mean,
                               "cv": 0.02, "energy_label": "estimated"})
            for key, lo, f in (("1-16", 1, 0.6), ("17-32", 17, 1.0), ("33-64", 33, 1.7)):
                len_rows.append({"device": "cpu", "model": "minilm", "variant": v, "recipe": recipe, "runtime": runtime,
                                 "batch_size": b, "padding": "dynamic", "mode": "eager", "length_bin": key, "bin_lo": lo,
                                 "n_trials": 3, "share_of_inferences": 0.33, "share_of_seconds": 0.33,
                                 "j_per_inf_gross": f * j, "ci_low": 0.95 * f * j, "ci_high": 1.05 * f * j,
                                 "energy_label": "estimated"})
        n = 200
        length = rng.integers(4, 60, n)
        label = rng.integers(0, 2, n)
        correct = rng.random(n) < a
        preds.append(pd.DataFrame({"idx": range(n), "label": label, "prediction": np.where(correct, label, 1 - label),
                                   "confidence": rng.uniform(0.5, 1.0, n), "length": length,
                                   "route": rng.integers(0, 2, n) if v == "adaptive" else -1,
                                   "variant": v, "device": "cpu"}))
    accuracy = pd.DataFrame(acc_rows, columns=ACCURACY_SCHEMA.names)
    energy = pd.DataFrame(e_rows, columns=ENERGY_STATS_SCHEMA.names)
    curves = pd.DataFrame(columns=CURVE_SCHEMA.names)
    return {"accuracy": accuracy, "energy": energy, "points": pd.DataFrame(),
            "front": figures.pareto_table(energy, accuracy), "predictions": pd.concat(preds, ignore_index=True),
            "by_length": pd.DataFrame(len_rows, columns=LENGTH_SCHEMA.names), "forecasts": pd.DataFrame(),
            "forecast_metrics": pd.DataFrame(), "schedule": pd.DataFrame(), "eval_summary": pd.DataFrame(
                columns=["status", "variant", "device", "variant_info"]), "curves": curves}
