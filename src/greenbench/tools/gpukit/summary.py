"""The check's one-page summary: accuracy deltas, int4 layouts, cells, sampler overhead, CUDA graphs
and the acceptance criteria."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from greenbench.core import host, io, provenance
from greenbench.tools.gpukit.kit import (
    REFERENCE_VARIANT,
    MAX_CV_BATCH8,
    MAX_DISAGREEMENT,
    MAX_HALF_DELTA_PTS,
    MAX_OVERHEAD,
    MIN_GRAPH_SPEEDUP,
)


def _fmt(value, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, spec)


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def accuracy_section(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    base = summary.loc[(summary.variant == REFERENCE_VARIANT) & (summary.status == "ok"), "accuracy"]
    base_acc = float(base.iloc[0]) if len(base) else float("nan")
    rows, deltas = [], {}
    for r in summary.itertuples(index=False):
        delta = (r.accuracy - base_acc) * 100 if r.status == "ok" else float("nan")
        deltas[r.variant] = delta
        rows.append(
            {
                "variant": r.variant,
                "status": r.status,
                "accuracy": _fmt(r.accuracy, ".4f"),
                "Δ vs fp32 (points)": _fmt(delta, "+.2f"),
                "examples": r.examples,
                "linear weight MB": _fmt((r.linear_weight_bytes or 0) / 2**20, ".2f") if r.status == "ok" else "–",
                "reason": r.reason,
            }
        )
    return pd.DataFrame(rows), deltas


INT4_KEYS = {
    "int4_layout": "layout",
    "int4_kernel": "kernel",
    "int4_k_padding": "K padded (in_features)",
    "int4_mac_padding_factor": "multiply-adds done / needed",
    "int4_weight_bytes_unpadded": "weight bytes (unpadded)",
    "int4_weight_bytes_padded": "weight bytes as packed",
}


def int4_layouts(summary: pd.DataFrame) -> pd.DataFrame:
    """What the int4 cells ran: layout, K padding, kernel and the storage with and without the padding
    (from the variant's own record of its quantized layers)."""
    rows = []
    for r in summary.itertuples(index=False):
        info = json.loads(r.variant_info or "{}")
        if any(key in info for key in INT4_KEYS):
            rows.append({"variant": r.variant, **{label: info.get(key, "–") for key, label in INT4_KEYS.items()}})
    return pd.DataFrame(rows)


def cell_table(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per cell over trials: median counter-vs-integrated disagreement, CV of net J/inference,
    mean J/inference and p50 latency, the flags seen."""
    ok = measurements[measurements.status == "ok"]
    rows = []
    keys = ["variant", "batch_size", "padding", "mode", "sampler"]
    for key, g in ok.groupby(keys, sort=True):
        net = g.j_per_inf_net.dropna().to_numpy(float)
        rows.append(
            dict(
                zip(keys, key),
                trials=len(g),
                disagreement_median=float(g.counter_vs_integrated.median())
                if g.counter_vs_integrated.notna().any()
                else np.nan,
                cv_net=float(np.std(net, ddof=1) / np.mean(net)) if len(net) > 1 and np.mean(net) > 0 else np.nan,
                j_net=float(np.mean(net)) if len(net) else np.nan,
                j_gross=float(g.j_per_inf_gross.mean()) if g.j_per_inf_gross.notna().any() else np.nan,
                p50_ms=float(g.latency_p50_ms.mean()),
                label="+".join(sorted(set(g.energy_label.dropna()))),
                power_field="+".join(sorted(set(g.power_field.dropna()))) or "–",
                state_during=bool(g.state_during_window.fillna(False).astype(bool).all()),
                flags="; ".join(sorted({f for fl in g["flags"].dropna() for f in fl.split("; ") if f}))[:160],
            )
        )
    return pd.DataFrame(rows)


def overhead_ratios(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per overhead cell (the same cell with the sampler off): energy and throughput, sampler on / off,
    paired by trial and averaged."""
    keys = ["variant", "batch_size", "padding", "mode"]
    if measurements.empty:
        return pd.DataFrame(columns=keys + ["trials", "energy", "throughput"])
    ok = measurements[(measurements.status == "ok")]
    rows = []
    off_cells = ok[~ok.sampler.astype(bool)]
    for key, off in off_cells.groupby(keys, sort=True):
        on = ok[ok.sampler.astype(bool)]
        for k, v in zip(keys, key):
            on = on[on[k] == v]
        pairs = on.merge(off, on="trial", suffixes=("_on", "_off"))
        if pairs.empty:
            continue
        rows.append(
            dict(
                zip(keys, key),
                trials=len(pairs),
                energy=float((pairs.j_per_inf_gross_on / pairs.j_per_inf_gross_off).mean()),
                throughput=float((pairs.throughput_per_s_on / pairs.throughput_per_s_off).mean()),
            )
        )
    return pd.DataFrame(rows, columns=keys + ["trials", "energy", "throughput"])


def graph_vs_eager(cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if cells.empty:
        return pd.DataFrame(rows)
    b1 = cells[(cells.batch_size == 1) & (cells.padding == "fixed") & cells.sampler]
    for variant, g in b1.groupby("variant"):
        eager, graph = g[g["mode"] == "eager"], g[g["mode"] == "cuda_graph"]
        if eager.empty or graph.empty:
            continue
        rows.append(
            {
                "variant": variant,
                "eager p50 ms": _fmt(eager.p50_ms.iloc[0]),
                "graph p50 ms": _fmt(graph.p50_ms.iloc[0]),
                "speed-up": round(float(eager.p50_ms.iloc[0] / graph.p50_ms.iloc[0]), 2),
                "J/inf eager": _fmt(eager.j_gross.iloc[0]),
                "J/inf graph": _fmt(graph.j_gross.iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "MISSED")


def criteria(
    cells: pd.DataFrame,
    deltas: Mapping[str, float],
    overheads: pd.DataFrame,
    graphs: pd.DataFrame,
    expected_overhead_cells: int = 2,
) -> pd.DataFrame:
    """The acceptance criteria with value and verdict. Harness overhead: the worst of the overhead
    cells (met only when all ``expected_overhead_cells`` were measured and each is within 1%)."""
    ratios = overheads.energy.dropna() if not overheads.empty else pd.Series(dtype=float)
    worst = float((ratios - 1).abs().max()) if len(ratios) else float("nan")
    overhead_verdict = None
    if len(ratios):
        overhead_verdict = bool(worst <= MAX_OVERHEAD) and len(ratios) >= expected_overhead_cells
    measured = cells[cells.sampler] if not cells.empty else cells
    dis = measured.disagreement_median.dropna() if not measured.empty else pd.Series(dtype=float)
    cv = measured[measured.batch_size >= 8].cv_net.dropna() if not measured.empty else pd.Series(dtype=float)
    half = [abs(deltas[v]) for v in ("fp16", "bf16") if v in deltas and np.isfinite(deltas[v])]
    speed = graphs.loc[graphs.variant == REFERENCE_VARIANT, "speed-up"] if not graphs.empty else pd.Series(dtype=float)
    rows = [
        (
            "median counter-vs-integrated disagreement ≤ 3%",
            _fmt(dis.median() if len(dis) else None, ".2%"),
            _verdict(bool(dis.median() <= MAX_DISAGREEMENT) if len(dis) else None),
        ),
        (
            "CV of net J/inference ≤ 2% at batch ≥ 8 (worst cell)",
            _fmt(cv.max() if len(cv) else None, ".2%"),
            _verdict(bool(cv.max() <= MAX_CV_BATCH8) if len(cv) else None),
        ),
        (
            f"harness overhead ≤ 1% of energy at each overhead cell (worst of {len(ratios)})",
            _fmt(worst if np.isfinite(worst) else None, ".2%"),
            _verdict(overhead_verdict),
        ),
        (
            "fp16 and bf16 within 0.3 points of fp32",
            _fmt(max(half) if half else None, ".2f"),
            _verdict(bool(max(half) <= MAX_HALF_DELTA_PTS) if len(half) == 2 else None),
        ),
        (
            "CUDA-graph replay ≥ 5× faster than eager at batch 1 (fp32)",
            _fmt(speed.iloc[0] if len(speed) else None, ".2f"),
            _verdict(bool(speed.iloc[0] >= MIN_GRAPH_SPEEDUP) if len(speed) else None),
        ),
    ]
    return pd.DataFrame(rows, columns=["criterion", "value", "verdict"])


def refused_cells(measurements: pd.DataFrame) -> pd.DataFrame:
    bad = measurements[measurements.status != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=["variant", "cells", "status", "reason"])
    return (
        bad.groupby(["variant", "status", "reason"])
        .size()
        .reset_index(name="cells")[["variant", "cells", "status", "reason"]]
    )


def write_summary(out: str | Path, context: Mapping[str, Any]) -> str:
    out = Path(out)
    kit = context["kit"]
    lines = [f"# GPU check — piece {context['piece']['number']}: {context['piece']['description']}", ""]
    meas_path = out / "energy" / "measurements.parquet"
    measurements = io.read_parquet(meas_path) if meas_path.exists() else pd.DataFrame()
    meta = io.read_metadata(meas_path)["provenance"][0] if meas_path.exists() else {}
    versions = provenance.versions()
    lines += [
        "## Provenance",
        "",
        f"- device: {meta.get('device_name') or context['device']} (uuid {meta.get('device_uuid', '–')}), "
        f"driver {meta.get('driver', '–')}, CUDA {meta.get('cuda', '–')}, host {context.get('host', '–')}",
        f"- host class: {host.describe(meta['host_fingerprint']) if meta.get('host_fingerprint') else 'not recorded'}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- greenbench commit {provenance.git_commit()} (kit made from {kit.get('git_commit', '–')} on {kit.get('created', '–')})",
        f"- model: {kit['source']}; on CPU the rounding changed {kit.get('cpu_predictions_changed_by_rounding', '–')} of "
        f"{kit.get('dev_examples', '–')} dev predictions (fp32 original {_fmt(kit.get('cpu_accuracy_fp32_original'), '.4f')})",
        f"- config: {context.get('config') or 'validated'}; trials done {context.get('trials_done', 0)}"
        + (
            f", skipped to stay in budget: {context['trials_skipped_for_budget']}"
            if context.get("trials_skipped_for_budget")
            else ""
        )
        + (" (tiny rehearsal sizes)" if context.get("tiny") else ""),
        f"- progress: {context.get('stage', '–')}; {context.get('elapsed_s', '–')} s elapsed of an estimated "
        f"{(context.get('estimate') or {}).get('total_s', '–')} s ({', '.join(f'{k} {v}' for k, v in (context.get('estimate') or {}).items())})",
        "- serving mode: closed loop (one batch in flight, host sync per iteration); state (clocks, temperature, "
        "throttle reasons) read during each window by the sampler",
        "",
    ]
    deltas: dict[str, float] = {}
    summary_path = out / "eval" / "summary.parquet"
    if summary_path.exists():
        eval_summary = io.read_parquet(summary_path)
        acc, deltas = accuracy_section(eval_summary)
        lines += ["## Accuracy on SST-2 dev", "", _table(acc)]
        layouts = int4_layouts(eval_summary)
        if not layouts.empty:
            lines += ["### int4 weight-only: layout, padding, kernel", "", _table(layouts)]
    cells = cell_table(measurements) if not measurements.empty else pd.DataFrame()
    overheads = overhead_ratios(measurements)
    graphs = graph_vs_eager(cells)
    expected = int(context.get("overhead_cells") or 1)
    lines += ["## Acceptance criteria", "", _table(criteria(cells, deltas, overheads, graphs, expected))]
    if not cells.empty:
        shown = cells.assign(
            **{
                c: cells[c].map(lambda v: _fmt(v, ".3g"))
                for c in ("disagreement_median", "cv_net", "j_net", "j_gross", "p50_ms")
            }
        )
        lines += ["## Cells (means over trials)", "", _table(shown)]
    shown_overheads = overheads.assign(
        energy=overheads.energy.map(lambda v: _fmt(v, ".4f")),
        throughput=overheads.throughput.map(lambda v: _fmt(v, ".4f")),
    )
    lines += [
        "## Harness overhead (sampler on / off, paired by trial)",
        "",
        _table(shown_overheads),
        "## CUDA graph vs eager at batch 1",
        "",
        _table(graphs),
        "## Failures (a step that raised; everything else went on)",
        "",
        "\n".join(f"- {f}" for f in context.get("failures") or []) or "(none)",
        "",
        "## Invalid and not-applicable cells",
        "",
        _table(refused_cells(measurements)) if not measurements.empty else "(no trial yet)\n",
    ]
    text = "\n".join(lines)
    io.write_text(text, out / "summary.md")
    return text
