"""Lifecycle energy per variant: what building it cost (the shared baseline fine-tune plus the
variant's own build: rewrite, recovery fine-tune, export or compile) plus N inferences at its
measured J/inference, and the deployment volume N from which it costs less than fp32 eager.

Pure functions (property-tested) and one table builder. The break-even interval comes from the
paired J/inference ratio's 95% interval against fp32 (``stats/ratios``); the build energies are one
measurement each (no interval), which the table says.
"""

from __future__ import annotations

from greenbench.core.names import REFERENCE_VARIANT
import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

METRIC = "j_per_inf_gross"
NEVER = math.inf
# the fine-tune's footprint rows ("finetune_baseline": rows written before the rule was named `finetune`)
FINETUNE_JOBS = ("finetune", "finetune_baseline")

S, F64, I64 = pa.string(), pa.float64(), pa.int64()
BREAK_EVEN_SCHEMA = pa.schema(
    [
        ("device", S),
        ("model", S),
        ("variant", S),
        ("batch_size", I64),
        ("padding", S),
        ("mode", S),
        ("build_j", F64),
        ("own_build_j", F64),
        ("j_per_inf", F64),
        ("ratio", F64),
        ("ratio_low", F64),
        ("ratio_high", F64),
        ("break_even_n", F64),
        ("break_even_low", F64),
        ("break_even_high", F64),
        ("verdict", S),
        ("energy_label", S),
    ]
)
CURVE_SCHEMA = pa.schema(
    [
        ("device", S),
        ("model", S),
        ("variant", S),
        ("inferences", F64),
        ("total_j", F64),
        ("j_per_inference", F64),
    ]
)


def total_energy(build_j: float, j_per_inf: float, n) -> np.ndarray:
    """Energy of building once and serving ``n`` inferences."""
    return float(build_j) + np.asarray(n, dtype=float) * float(j_per_inf)


def break_even(build_j: float, j_per_inf: float, base_build_j: float, base_j_per_inf: float) -> float:
    """The smallest N >= 0 from which the variant's total stays at or below the baseline's: 0 when it
    is no dearer to build and no dearer per inference; ``inf`` (never) when it costs more per inference
    (it may be cheaper below some N, but the baseline overtakes it for good)."""
    extra_build, saving = float(build_j) - float(base_build_j), float(base_j_per_inf) - float(j_per_inf)
    if saving < 0 or (saving == 0 and extra_build > 0):
        return NEVER
    if extra_build <= 0:
        return 0.0
    return extra_build / saving


def verdict(n: float, low: float, high: float) -> str:
    """The break-even in words, from its point estimate and the ends of its 95% interval."""
    if n == 0 and high == 0:
        return "pays back at once"
    if math.isinf(low):
        return "never pays back"
    if math.isinf(n):
        return "does not pay back (the interval allows it)"
    if math.isinf(high):
        return "pays back (the interval allows never)"
    return "pays back"


def build_energies(footprint: pd.DataFrame) -> tuple[dict[str, float], dict[tuple[str, str, str], float]]:
    """Fine-tune energy per model and build energy per (device, model, variant) from the footprint rows
    (NaN where the job's energy is unavailable)."""
    finetune, builds = {}, {}
    for row in footprint.itertuples():
        parts = str(row.target).split("/")
        if row.job in FINETUNE_JOBS and len(parts) >= 3:
            finetune[parts[-2]] = float(row.energy_j) if row.energy_j == row.energy_j else math.nan
        elif row.job == "build_variant" and len(parts) >= 3:
            builds[(parts[-3], parts[-2], parts[-1])] = (
                float(row.energy_j) if row.energy_j == row.energy_j else math.nan
            )
    return finetune, builds


def build_cost(
    variant: str, device: str, model: str, finetune: Mapping[str, float], builds: Mapping[tuple[str, str, str], float]
) -> tuple[float, float]:
    """(total build energy, the variant's own part): the model's fine-tune, plus the variant's build and
    its source recipe's (a runtime cell of a pruned recipe pays for the pruning too)."""
    from greenbench.cells.runtimes import source_recipe

    own = 0.0
    for name in dict.fromkeys([variant, source_recipe(variant) or variant]):
        if (device, model, name) in builds:
            own += builds[(device, model, name)]
    return finetune.get(model, math.nan) + own, own


def amortize(
    footprint: pd.DataFrame,
    energy: pd.DataFrame,
    ratios: pd.DataFrame,
    batch_size: int,
    inferences: Iterable[float],
    padding: str = "dynamic",
    mode: str = "eager",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Break-even table and amortized curves for every variant measured at the stated cell."""
    finetune, builds = build_energies(footprint)
    cell = (
        (energy["metric"] == METRIC)
        & (energy["batch_size"] == batch_size)
        & (energy["padding"] == padding)
        & (energy["mode"] == mode)
    )
    at = energy[cell & energy["mean"].notna()]
    rat = ratios[
        (ratios.metric == METRIC)
        & (ratios.batch_size == batch_size)
        & (ratios.padding == padding)
        & (ratios["mode"] == mode)
    ].set_index(["device", "model", "variant"])
    ns = np.asarray(sorted(float(n) for n in inferences))
    rows, curves = [], []
    for (device, model), group in at.groupby(["device", "model"], sort=True):
        base = group[group.variant == REFERENCE_VARIANT]
        if base.empty:
            continue
        base_j = float(base["mean"].iloc[0])
        base_build, _ = build_cost(REFERENCE_VARIANT, device, model, finetune, builds)
        for g in group.sort_values("variant").itertuples():
            build, own = build_cost(g.variant, device, model, finetune, builds)
            j = float(g.mean)
            if g.variant == REFERENCE_VARIANT:
                r, lo, hi = 1.0, 1.0, 1.0
            elif (device, model, g.variant) in rat.index:
                rr = rat.loc[(device, model, g.variant)]
                r, lo, hi = float(rr.ratio), float(rr.ci_low), float(rr.ci_high)
            else:
                r, lo, hi = j / base_j, math.nan, math.nan
            # from the paired ratio, as its interval is (the means of separate cells differ from it by the
            # drift the pairing cancels, and could put N outside its own interval)
            n = break_even(build, r * base_j, base_build, base_j) if g.variant != REFERENCE_VARIANT else 0.0
            # the ratio's interval moves the saving: the low end of N comes with the largest saving
            n_low = break_even(build, lo * base_j, base_build, base_j) if lo == lo else math.nan
            n_high = break_even(build, hi * base_j, base_build, base_j) if hi == hi else math.nan
            if g.variant == REFERENCE_VARIANT:
                n_low = n_high = 0.0
            rows.append(
                {
                    "device": device,
                    "model": model,
                    "variant": g.variant,
                    "batch_size": int(batch_size),
                    "padding": padding,
                    "mode": mode,
                    "build_j": build,
                    "own_build_j": own,
                    "j_per_inf": j,
                    "ratio": r,
                    "ratio_low": lo,
                    "ratio_high": hi,
                    "break_even_n": n,
                    "break_even_low": n_low,
                    "break_even_high": n_high,
                    "verdict": "baseline"
                    if g.variant == REFERENCE_VARIANT
                    else (
                        "unavailable"
                        if build != build or n != n
                        else verdict(n, n_low if n_low == n_low else n, n_high if n_high == n_high else n)
                    ),
                    "energy_label": str(g.energy_label),
                }
            )
            for n_inf, total in zip(ns, total_energy(build, j, ns)):
                curves.append(
                    {
                        "device": device,
                        "model": model,
                        "variant": g.variant,
                        "inferences": n_inf,
                        "total_j": total,
                        "j_per_inference": total / n_inf,
                    }
                )
    return (pd.DataFrame(rows, columns=BREAK_EVEN_SCHEMA.names), pd.DataFrame(curves, columns=CURVE_SCHEMA.names))


def format_n(n: float) -> str:
    """A deployment volume in words: ``never``, ``n/a`` (unknown), or the number."""
    return "never" if math.isinf(n) else ("n/a" if n != n else f"{n:,.0f}" if n < 1e6 else f"{n:.3g}")


def to_markdown(table: pd.DataFrame) -> str:
    fmt = format_n
    show = pd.DataFrame(
        {
            "device": table.device,
            "variant": table.variant,
            "build kJ": (table.build_j / 1e3).round(2),
            "own build kJ": (table.own_build_j / 1e3).round(2),
            "J/inference": table.j_per_inf.map(lambda v: f"{v:.4f}"),
            "ratio vs fp32 [95% CI]": [
                f"{r:.3f} [{lo:.3f}, {hi:.3f}]" for r, lo, hi in zip(table.ratio, table.ratio_low, table.ratio_high)
            ],
            "break-even N [95% CI]": [
                f"{fmt(n)} [{fmt(lo)}, {fmt(hi)}]"
                for n, lo, hi in zip(table.break_even_n, table.break_even_low, table.break_even_high)
            ],
            "verdict": table.verdict,
            "energy": table.energy_label,
        }
    )
    return show.to_markdown(index=False)
