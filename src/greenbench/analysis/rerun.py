"""How much a rerun moves the answer: two runs of the same config on the same host, compared cell by cell.

Each cell's J/inference interval (``stats/energy.parquet``) covers the trial-to-trial noise within one run.
Whether a second run lands inside it is a separate question: between-run drift (thermal state, background
load, frequency governor, a reboot) is not in the interval. This module measures it: per cell (device,
model, variant, batch_size, padding, mode) both runs' means and intervals, the relative shift, the shift in
units of the first run's half-width, whether the second mean lies in the first interval and whether the
intervals overlap; a summary; and whether the study's answer (``stats/answer.parquet`` where the run has
one, else the lowest-J/inference cell both runs measured) moves.

Pure functions for the arithmetic (property-tested), one loader, one report writer
(``benchmarks/rerun_variance.py`` is its command line).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CELL = ["device", "model", "variant", "batch_size", "padding", "mode"]
METRIC = "j_per_inf_gross"
ANSWER_COLUMNS = CELL + ["j_per_inf", "j_low", "j_high"]


# ---- arithmetic ------------------------------------------------------------------------------------


def relative_shift_pct(first: float, second: float) -> float:
    """100 (second - first) / first; NaN when the first is 0 or missing."""
    return 100.0 * (second - first) / first if first and first == first and second == second else math.nan


def half_widths(first: float, low: float, high: float, second: float) -> float:
    """The shift in units of the first run's interval half-width (|value| <= 1: inside a symmetric
    interval); NaN when the interval has no width."""
    half = (high - low) / 2.0
    return (second - first) / half if half > 0 else math.nan


def position(value: float, low: float, high: float) -> str:
    """Where ``value`` lies against [low, high]: ``inside``, ``below`` or ``above`` (``n/a`` if missing)."""
    if any(x != x for x in (value, low, high)):
        return "n/a"
    return "below" if value < low else "above" if value > high else "inside"


def overlap(low1: float, high1: float, low2: float, high2: float) -> bool:
    """Whether two closed intervals share a point."""
    return max(low1, low2) <= min(high1, high2)


# ---- the comparison --------------------------------------------------------------------------------


def cells(energy: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """One row per measured cell of a run's energy statistics: mean, interval and trials of ``metric``."""
    e = energy[(energy.metric == metric) & energy["mean"].notna()]
    cols = CELL + ["mean", "ci_low", "ci_high", "n_trials", "energy_label"]
    e = e.assign(**{c: e[c] if c in e else np.nan for c in ("n_trials", "energy_label")})
    return e[cols].drop_duplicates(CELL).reset_index(drop=True)


def compare_cells(first: pd.DataFrame, second: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per cell both runs measured: each run's mean [interval], the shift (%, and in first-run half-widths),
    whether the second mean lies in the first interval, whether the intervals overlap."""
    a, b = cells(first, metric), cells(second, metric)
    both = a.merge(b, on=CELL, suffixes=("_1", "_2"), how="inner")
    out = both[CELL].copy()
    for run in ("1", "2"):
        out[f"mean_{run}"] = both[f"mean_{run}"].astype(float)
        out[f"low_{run}"] = both[f"ci_low_{run}"].astype(float)
        out[f"high_{run}"] = both[f"ci_high_{run}"].astype(float)
        out[f"trials_{run}"] = both[f"n_trials_{run}"]
    out["shift_pct"] = [relative_shift_pct(x, y) for x, y in zip(out.mean_1, out.mean_2)]
    out["shift_half_widths"] = [
        half_widths(m, lo, hi, y) for m, lo, hi, y in zip(out.mean_1, out.low_1, out.high_1, out.mean_2)
    ]
    out["second_in_first"] = [position(y, lo, hi) == "inside" for y, lo, hi in zip(out.mean_2, out.low_1, out.high_1)]
    out["overlap"] = [overlap(*v) for v in zip(out.low_1, out.high_1, out.low_2, out.high_2)]
    out["energy_label"] = both["energy_label_1"]
    return out.sort_values(CELL, kind="stable").reset_index(drop=True)


def ratio_stats(ratios: pd.DataFrame) -> pd.DataFrame:
    """A run's paired ratios to fp32 (``stats/ratios.parquet``: each cell's J/inference over fp32's, paired by
    trial) in the shape ``cells`` and ``compare_cells`` read (``mean`` = the ratio)."""
    return ratios.rename(columns={"ratio": "mean", "n_pairs": "n_trials"})


def summary(table: pd.DataFrame, only_first: int = 0, only_second: int = 0) -> dict[str, Any]:
    """Median and max |shift| (% and half-widths), the cell that moved most, the share of cells whose second
    mean falls outside the first interval and of cells whose intervals do not overlap."""
    if table.empty:
        return {"cells": 0, "only_first": only_first, "only_second": only_second}
    shift = table.shift_pct.abs()
    worst = table.loc[shift.idxmax()] if shift.notna().any() else None
    return {
        "cells": len(table),
        "only_first": only_first,
        "only_second": only_second,
        "median_abs_shift_pct": float(shift.median()),
        "max_abs_shift_pct": float(shift.max()),
        "max_cell": _cell_name(worst) if worst is not None else "n/a",
        "median_abs_shift_half_widths": float(table.shift_half_widths.abs().median()),
        "outside_share": float((~table.second_in_first).mean()),
        "disjoint_share": float((~table.overlap).mean()),
    }


def _cell_name(r) -> str:
    return f"{r.device}/{r.model}/{r.variant} b{int(r.batch_size)} {r.padding} {r['mode']}"


def lowest_cells(table: pd.DataFrame, run: str) -> pd.DataFrame:
    """Per device and model, the cell with the lowest mean of ``run`` (``1`` or ``2``) among the compared
    cells, as an answer table (``ANSWER_COLUMNS``)."""
    if table.empty:
        return pd.DataFrame(columns=ANSWER_COLUMNS)
    best = table.sort_values([f"mean_{run}", *CELL], kind="stable").groupby(["device", "model"], sort=True).head(1)
    return best.rename(columns={f"mean_{run}": "j_per_inf", f"low_{run}": "j_low", f"high_{run}": "j_high"})[
        ANSWER_COLUMNS
    ].reset_index(drop=True)


def answer_moves(first: pd.DataFrame, second: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per device and model: each run's answer cell and value [interval]; whether the cell is the same;
    where the second run's answer value lies against the first run's interval and by how much it moved;
    and where the first answer cell's own second-run value lies (the same cell remeasured)."""
    rows = []
    second = second.set_index(["device", "model"]) if not second.empty else second
    by_cell = table.set_index(CELL) if not table.empty else table
    for a in first.itertuples(index=False):
        key = (a.device, a.model)
        b = second.loc[[key]].iloc[0] if not second.empty and key in second.index else None
        cell = tuple(getattr(a, c) for c in CELL)
        again = by_cell.loc[cell] if not by_cell.empty and cell in by_cell.index else None
        again_mean = float(again.mean_2) if again is not None else math.nan
        rows.append(
            {
                "device": a.device,
                "model": a.model,
                "first_cell": _short(a),
                "first_j": float(a.j_per_inf),
                "first_low": float(a.j_low),
                "first_high": float(a.j_high),
                "second_cell": _short(b) if b is not None else "n/a",
                "second_j": float(b.j_per_inf) if b is not None else math.nan,
                "second_low": float(b.j_low) if b is not None else math.nan,
                "second_high": float(b.j_high) if b is not None else math.nan,
                "same_cell": b is not None and _short(b) == _short(a),
                "second_vs_first_interval": position(
                    float(b.j_per_inf) if b is not None else math.nan, float(a.j_low), float(a.j_high)
                ),
                "answer_shift_pct": relative_shift_pct(float(a.j_per_inf), float(b.j_per_inf))
                if b is not None
                else math.nan,
                "first_cell_rerun_j": again_mean,
                "first_cell_rerun_vs_interval": position(again_mean, float(a.j_low), float(a.j_high)),
            }
        )
    return pd.DataFrame(rows)


def _short(r) -> str:
    get = r.get if hasattr(r, "get") else lambda k: getattr(r, k)  # a Series row or a named tuple
    return f"{get('variant')} b{int(get('batch_size'))} {get('padding')} {get('mode')}"


# ---- a run folder ----------------------------------------------------------------------------------


def _stats_dir(run: Path) -> Path:
    for d in (run / "stats", run):
        if (d / "energy.parquet").exists():
            return d
    raise FileNotFoundError(
        f"{run}: no stats/energy.parquet (give a finished run's results folder, or its stats folder)"
    )


def load_run(run: str | Path, metric: str = METRIC) -> tuple[pd.DataFrame, pd.DataFrame | None, str]:
    """A run's energy statistics, its answer table (``stats/answer.parquet``; None when absent) and its
    host class as recorded in the measurements' provenance (``unknown`` when not recorded)."""
    from greenbench.core import io

    run = Path(run)
    stats = _stats_dir(run)
    energy = io.read_parquet(stats / "energy.parquet")
    answer = None
    if (stats / "answer.parquet").exists():
        answer = io.read_parquet(stats / "answer.parquet")
        missing = [c for c in ANSWER_COLUMNS if c not in answer]
        if missing:
            raise ValueError(f"{stats / 'answer.parquet'}: no column(s) {missing} (expected {ANSWER_COLUMNS})")
        answer = answer[ANSWER_COLUMNS]
    return energy, answer, _host(stats.parent / "energy" / "measurements.parquet")


def load_ratios(run: str | Path) -> pd.DataFrame | None:
    """A run's paired ratios to fp32 (``stats/ratios.parquet``), or None when it has none."""
    from greenbench.core import io

    path = _stats_dir(Path(run)) / "ratios.parquet"
    return ratio_stats(io.read_parquet(path)) if path.exists() else None


def _host(measurements: Path) -> str:
    from greenbench.core import host, io

    if not measurements.exists():
        return "unknown"
    records = host.recorded(io.read_metadata(measurements))
    classes = sorted({host.describe(r["host_fingerprint"]) for r in records})
    return "; ".join(classes) or "unknown"


# ---- the report ------------------------------------------------------------------------------------


def _ci(m, lo, hi) -> str:
    return f"{m:.4g} [{lo:.4g}, {hi:.4g}]" if m == m else "n/a"


def to_markdown(
    table: pd.DataFrame,
    stats: dict[str, Any],
    answers: pd.DataFrame,
    names: tuple[str, str],
    hosts,
    source: str,
    ratios: pd.DataFrame | None = None,
) -> str:
    first, second = names
    lines = [
        "# Rerun variance: how much a second run moves J/inference",
        "",
        f"First run: `{first}` (host: {hosts[0]}). Second run: `{second}` (host: {hosts[1]}).",
        "",
        "Each interval is a run's 95% interval over its own trials (within-run noise). A second run of the same "
        "config on the same host also carries between-run drift, which no single run's interval covers.",
        "",
    ]
    if "unknown" not in hosts and hosts[0] != hosts[1]:
        lines += ["**The runs' hosts differ: this compares hosts, not reruns.**", ""]
    lines += ["## Summary", ""]
    if not stats.get("cells"):
        lines.append("No cell was measured by both runs.")
    else:
        lines += [
            f"- cells compared: {stats['cells']} (only in the first run: {stats['only_first']}, only in the "
            f"second: {stats['only_second']})",
            f"- |shift| of the mean: median {stats['median_abs_shift_pct']:.2f}%, max "
            f"{stats['max_abs_shift_pct']:.2f}% ({stats['max_cell']})",
            f"- |shift| in first-run half-widths: median {stats['median_abs_shift_half_widths']:.2f}",
            f"- second mean outside the first interval: {100 * stats['outside_share']:.0f}% of cells",
            f"- intervals that do not overlap: {100 * stats['disjoint_share']:.0f}% of cells",
        ]
    lines += ["", f"## Does the answer move? ({source})", ""]
    if answers.empty:
        lines.append("No answer cell to compare.")
    else:
        show = pd.DataFrame(
            {
                "device": answers.device,
                "model": answers.model,
                "first run: cell, J/inf [95% CI]": [
                    f"{c}: {_ci(m, lo, hi)}"
                    for c, m, lo, hi in zip(answers.first_cell, answers.first_j, answers.first_low, answers.first_high)
                ],
                "second run: cell, J/inf [95% CI]": [
                    f"{c}: {_ci(m, lo, hi)}"
                    for c, m, lo, hi in zip(
                        answers.second_cell, answers.second_j, answers.second_low, answers.second_high
                    )
                ],
                "same cell": answers.same_cell.map({True: "yes", False: "no"}),
                "second answer vs first interval": [
                    f"{p} ({s:+.1f}%)" if s == s else p
                    for p, s in zip(answers.second_vs_first_interval, answers.answer_shift_pct)
                ],
                "first cell remeasured": [
                    f"{m:.4g} ({p} the first interval)" if m == m else "not remeasured"
                    for m, p in zip(answers.first_cell_rerun_j, answers.first_cell_rerun_vs_interval)
                ],
            }
        )
        lines.append(show.to_markdown(index=False))
    if ratios is not None and not ratios.empty:
        r = summary(ratios)
        lines += [
            "",
            "## Ratios to fp32: does the ordering move?",
            "",
            "Each cell's J/inference over fp32's at the same batch size, paired by trial within each run (the "
            "drift a run shares with its fp32 cancels in the ratio):",
            "",
            f"- cells compared: {r['cells']}; |shift| of the ratio: median {r['median_abs_shift_pct']:.2f}%, max "
            f"{r['max_abs_shift_pct']:.2f}% ({r['max_cell']})",
            f"- second ratio outside the first ratio's interval: {100 * r['outside_share']:.0f}% of cells; intervals "
            f"that do not overlap: {100 * r['disjoint_share']:.0f}%",
        ]
    lines += ["", "## Per cell", ""]
    if not table.empty:
        per = pd.DataFrame(
            {
                "cell": [_cell_name(r) for _, r in table.iterrows()],
                "first J/inf [95% CI]": [_ci(*v) for v in zip(table.mean_1, table.low_1, table.high_1)],
                "second J/inf [95% CI]": [_ci(*v) for v in zip(table.mean_2, table.low_2, table.high_2)],
                "shift %": table.shift_pct.map(lambda v: f"{v:+.2f}"),
                "shift / half-width": table.shift_half_widths.map(lambda v: f"{v:+.2f}" if v == v else "n/a"),
                "second in first CI": table.second_in_first.map({True: "yes", False: "no"}),
                "overlap": table.overlap.map({True: "yes", False: "no"}),
                "energy": table.energy_label,
            }
        )
        lines.append(per.to_markdown(index=False))
    return "\n".join(lines) + "\n"


def write_report(first: str | Path, second: str | Path, out: str | Path, metric: str = METRIC) -> dict[str, Any]:
    """Compare two runs and write ``rerun.md``, ``rerun_cells.csv``, ``rerun_answer.csv`` and, where both runs
    have paired ratios to fp32, ``rerun_ratios.csv`` into ``out``; returns the summary."""
    from greenbench.core import io

    e1, ans1, host1 = load_run(first, metric)
    e2, ans2, host2 = load_run(second, metric)
    table = compare_cells(e1, e2, metric)
    c1, c2 = cells(e1, metric), cells(e2, metric)
    keys1, keys2 = set(map(tuple, c1[CELL].to_numpy())), set(map(tuple, c2[CELL].to_numpy()))
    stats = summary(table, len(keys1 - keys2), len(keys2 - keys1))
    if ans1 is not None and ans2 is not None:
        source = "each run's stats/answer.parquet"
    else:
        ans1, ans2 = lowest_cells(table, "1"), lowest_cells(table, "2")
        source = "no stats/answer.parquet: the lowest-J/inference cell both runs measured"
    answers = answer_moves(ans1, ans2, table)
    r1, r2 = load_ratios(first), load_ratios(second)
    ratios = compare_cells(r1, r2, metric) if r1 is not None and r2 is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(
        to_markdown(table, stats, answers, (str(first), str(second)), (host1, host2), source, ratios),
        out / "rerun.md",
    )
    if ratios is not None:
        with io.atomic_file(out / "rerun_ratios.csv") as tmp:
            ratios.to_csv(tmp, index=False)
        stats = {**stats, "ratios": summary(ratios)}
    with io.atomic_file(out / "rerun_cells.csv") as tmp:
        table.to_csv(tmp, index=False)
    with io.atomic_file(out / "rerun_answer.csv") as tmp:
        answers.to_csv(tmp, index=False)
    return {**stats, "answer_source": source}
