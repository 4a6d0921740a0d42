"""The measurement budget: which cells need trials beyond the first stage (sequential stopping).

The first ``energy.trials`` trials measure every cell. ``plan_trials`` then applies Stein's
two-stage rule (``greenbench.measure.energy.stopping``) to what each cell reports — its J/inference and its ratio
to fp32 in the same trial and cell (paired) — and gives every cell the number of trials that makes
both 95% intervals as narrow as ``energy.stopping.target`` (relative half-width), capped at
``energy.stopping.max_trials``. A baseline cell runs in every trial that any of its pairs runs in,
so the pairing stays intact. Later trials measure only the cells that still need them, in the same
seeded random interleaving.

With ``energy.stopping.contenders`` (``contenders``), later trials go only where they can change what the
study concludes: a cell whose accuracy is within ``answer.max_accuracy_loss_pts`` of fp32 and whose
first-stage J/inference interval overlaps the best such cell's at its batch size (padding, mode), or a
cell on that batch size's accuracy-energy front. The others keep their first-stage intervals.
"""

from __future__ import annotations

from greenbench.core.names import REFERENCE_VARIANT
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.analysis.pareto import pareto_front
from greenbench.measure.energy import stopping
from greenbench.measure.energy.rows import metric_of, usable
from greenbench.measure.energy.cells import Cell

KEY = ["variant", "batch_size", "padding", "mode"]
F64, I64, STR, BOOL = pa.float64(), pa.int64(), pa.string(), pa.bool_()
PLAN_SCHEMA = pa.schema(
    [
        ("device", STR),
        ("model", STR),
        ("variant", STR),
        ("batch_size", I64),
        ("padding", STR),
        ("mode", STR),
        ("quantity", STR),
        ("metric", STR),
        ("n0", I64),
        ("s0", F64),
        ("needed", I64),
        ("capped", BOOL),
        ("contender", BOOL),
        ("trials", I64),
    ]
)


def stage_values(measurements: pd.DataFrame) -> dict[tuple, dict[str, pd.Series]]:
    """Per cell (KEY), the log-scale series its stopping is decided on, indexed by trial:
    ``j_per_inf`` (log of the metric) and, for every non-baseline cell whose baseline was measured,
    ``ratio_vs_fp32`` (log of the paired ratio)."""
    m = usable(measurements)
    out: dict[tuple, dict[str, pd.Series]] = {}
    for key, g in m.groupby(KEY, sort=True):
        metric = metric_of(g)
        values = g.set_index("trial")[metric].astype(float)
        series = {"j_per_inf": np.log(values[values > 0])}
        if key[0] != REFERENCE_VARIANT:
            base = m[
                (m.variant == REFERENCE_VARIANT)
                & (m.batch_size == key[1])
                & (m.padding == key[2])
                & (m["mode"] == key[3])
            ]
            base = base.set_index("trial")[metric].astype(float)
            pair = pd.concat([values, base], axis=1, keys=["a", "b"]).dropna()
            pair = pair[(pair.a > 0) & (pair.b > 0)]
            if len(pair):
                series["ratio_vs_fp32"] = np.log(pair.a / pair.b)
        out[key] = {"metric": metric, **series}  # type: ignore[dict-item]
    return out


def contenders(
    stage1: pd.DataFrame, accuracy: Mapping[str, float], max_loss_pts: float, level: float, first_stage: int
) -> set[tuple]:
    """The cells (KEY) whose later trials can change the study's conclusions, from the first stage and each
    variant's dev accuracy (``accuracy``: variant -> accuracy in [0, 1]; the reference variant's included).

    Per (batch size, padding, mode): a cell qualifies when it loses at most ``max_loss_pts`` points against
    the reference (the answer's rule); a qualifying cell is a contender when the lower end of its J/inference
    interval (first stage, ``level``) is at most the upper end of the best qualifying cell's; a cell on the
    front of (accuracy up, J/inference down) is one too. A cell with no accuracy, or a batch size whose
    reference has none, is a contender (nothing decides against it)."""
    reference = accuracy.get(REFERENCE_VARIANT)
    series = stage_values(stage1[stage1.trial < first_stage])
    out: set[tuple] = set()
    groups: dict[tuple, list[tuple]] = {}
    for key in series:
        groups.setdefault(key[1:], []).append(key)
    for keys in groups.values():
        rows = []
        for key in keys:
            acc = accuracy.get(key[0])
            values = series[key]["j_per_inf"].to_numpy(float)
            if (
                acc is None
                or not np.isfinite(acc)
                or reference is None
                or not np.isfinite(reference)
                or len(values) < 2
            ):
                out.add(key)
                continue
            ci = stopping.log_interval(np.exp(values), len(values), level)
            rows.append((key, float(acc), ci.estimate, ci.low, ci.high))
        qualifying = [r for r in rows if (reference - r[1]) * 100 <= max_loss_pts + 1e-9]
        if qualifying:
            best_high = min(r[4] for r in qualifying)
            out.update(r[0] for r in qualifying if r[3] <= best_high)
        if rows:  # accuracy up, J/inference down
            front = pareto_front([(r[1], r[2]) for r in rows], senses=(1, -1))
            out.update(r[0] for r, on in zip(rows, front) if on)
    return out


def accuracies(eval_files) -> dict[str, float]:
    """Each evaluated variant's dev accuracy (``greenbench.measure.accuracy`` files; not applicable: absent)."""
    from greenbench.core import io

    out = {}
    for path in eval_files:
        meta = io.read_metadata(path)
        if meta.get("status") == "ok" and meta.get("accuracy") is not None:
            out[str(meta["variant"])] = float(meta["accuracy"])
    return out


def plan_trials(
    stage1: pd.DataFrame,
    target: float,
    level: float,
    first_stage: int,
    max_trials: int,
    device: str = "",
    model: str = "",
    contender: set[tuple] | None = None,
) -> pd.DataFrame:
    """One row per (cell, quantity): Stein's plan; ``trials`` is the cell's total (max over its
    quantities and, for a baseline, over every cell paired with it). With ``contender`` (``contenders``),
    a cell outside it needs no trial beyond the first stage."""
    half = stopping.log_half_width(target)
    rows = []
    for key, series in stage_values(stage1).items():
        for quantity in ("j_per_inf", "ratio_vs_fp32"):
            if quantity not in series:
                continue
            values = series[quantity]
            stage = stopping.plan(values[values.index < first_stage].to_numpy(), half, level, max_trials)
            chosen = contender is None or key in contender
            rows.append(
                dict(
                    zip(KEY, key),
                    quantity=quantity,
                    metric=series["metric"],
                    n0=stage.n0,
                    s0=stage.s0,
                    needed=stage.trials if chosen else min(stage.trials, first_stage),
                    capped=stage.capped and chosen,
                    contender=chosen,
                )
            )
    df = pd.DataFrame(rows, columns=[c for c in PLAN_SCHEMA.names if c not in ("device", "model", "trials")])
    df.insert(0, "model", model)
    df.insert(0, "device", device)
    if df.empty:
        df["trials"] = pd.Series(dtype="int64")
        return df
    per_cell = {tuple(k): int(v) for k, v in df.groupby(KEY)["needed"].max().items()}
    for (variant, batch, padding, mode), needed in list(per_cell.items()):
        base = (REFERENCE_VARIANT, batch, padding, mode)
        if variant != REFERENCE_VARIANT and base in per_cell:
            per_cell[base] = max(per_cell[base], needed)
    df["trials"] = [int(per_cell[tuple(k)]) for k in df[KEY].itertuples(index=False)]
    return df.sort_values(KEY + ["quantity"]).reset_index(drop=True)


def cells_for_trial(plan: pd.DataFrame, trial: int) -> list[Cell]:
    """The cells a later trial measures: those whose plan needs more than ``trial`` trials."""
    need = plan[plan.trials > trial].drop_duplicates(KEY)
    return [Cell(r.variant, int(r.batch_size), r.padding, r.mode) for r in need.itertuples(index=False)]


def budget_summary(plan: pd.DataFrame, first_stage: int) -> dict[str, Any]:
    cells = plan.drop_duplicates(KEY)
    return {
        "cells": int(len(cells)),
        "first_stage": first_stage,
        "later_cell_trials": int((cells.trials - first_stage).clip(lower=0).sum()),
        "capped": int(plan.drop_duplicates(KEY + ["quantity"]).groupby(KEY).capped.any().sum()),
        "contenders": int(cells.contender.sum()) if "contender" in cells else int(len(cells)),
        "max_trials": int(cells.trials.max()) if len(cells) else first_stage,
    }


def settings_enabled(energy: Mapping[str, Any], device: str) -> bool:
    """Whether a device's study runs trials beyond the first stage."""
    stop = energy.get("stopping") or {}
    return bool((stop.get("target") or {}).get(device)) and int(stop.get("max_trials", 0)) > int(energy["trials"])


def budget_estimate(config: Mapping[str, Any], device: str) -> dict[str, Any]:
    """What the energy trials of one device will cost, said before any job runs: measured cells per
    trial (applicable variants x batch sizes x paddings x modes; CUDA graphs only on cuda with fixed
    padding), the first stage's duration and the most the later trials can add (every cell to the cap)."""
    from greenbench.cells import variants
    from greenbench.measure.energy.cells import paddings_for
    from greenbench.measure.energy.trial import estimate_trial_seconds

    energy = config["energy"]
    from greenbench.cells.variants.native import emulation

    def applies(name: str) -> bool:
        recipe = variants.get(name)
        params = variants.params_for(config["variants"], name)
        return recipe.applicability(device) is None and emulation(recipe, device, params) is None

    applicable = [n for n in config["study"]["variants"] if applies(n)]
    per_variant = sum(
        1
        for p in paddings_for(energy, device)
        for mode in energy["modes"]
        if mode == "eager" or (device == "cuda" and p == "fixed")
    ) * len(energy["batch_sizes"])
    cells = len(applicable) * per_variant
    models = len(config["study"]["models"])
    trial_s = estimate_trial_seconds(cells, energy, device)
    first = int(energy["trials"])
    later = int(energy["stopping"]["max_trials"]) - first if settings_enabled(energy, device) else 0
    return {
        "cells_per_trial": cells,
        "first_stage": first,
        "first_stage_s": models * first * trial_s,
        "later_trials": later,
        "later_max_s": models * later * trial_s,
    }
