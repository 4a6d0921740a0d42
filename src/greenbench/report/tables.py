"""Paper outputs: tables in Markdown and LaTeX, and the claims check."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from greenbench.analysis import summaries as aggregate
from greenbench.report import claims
from greenbench.core import host, io
from greenbench.core.log import get_logger

log = get_logger(__name__)


def _fmt_ci(mean, low, high, digits=3) -> str:
    if pd.isna(mean):
        return "n/a"
    if pd.isna(low):
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"


def _pts(x) -> str:
    return f"{100 * x:+.2f}" if pd.notna(x) else ""


def accuracy_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Accuracy with its interval over sentences, and the difference to fp32 on the same sentences in
    points with its paired interval, the exact McNemar p-value and the discordant sentences."""
    out = acc.copy()
    out["accuracy (95% CI)"] = [
        _fmt_ci(a, lo, hi, 4) if s == "ok" else "not applicable"
        for a, lo, hi, s in zip(acc.accuracy, acc.ci_low, acc.ci_high, acc.status)
    ]
    low = acc.get("delta_ci_low", pd.Series(float("nan"), index=acc.index))
    high = acc.get("delta_ci_high", pd.Series(float("nan"), index=acc.index))
    out["Δ vs fp32, pts (paired 95% CI)"] = [
        "" if pd.isna(d) else _pts(d) if pd.isna(lo) else f"{_pts(d)} [{_pts(lo)}, {_pts(hi)}]"
        for d, lo, hi in zip(acc.delta_vs_fp32, low, high)
    ]
    p = acc.get("mcnemar_p", pd.Series(float("nan"), index=acc.index))
    out["McNemar p"] = [f"{v:.2g}" if pd.notna(v) else "" for v in p]
    b = acc.get("n_fp32_only", pd.Series(pd.NA, index=acc.index))
    c = acc.get("n_variant_only", pd.Series(pd.NA, index=acc.index))
    out["fp32 only / variant only right"] = [
        f"{int(x)} / {int(y)}" if pd.notna(x) and pd.notna(y) else "" for x, y in zip(b, c)
    ]
    cols = ["accuracy (95% CI)", "Δ vs fp32, pts (paired 95% CI)", "McNemar p", "fp32 only / variant only right"]
    return out[["device", "model", "variant", *cols]]


def compute_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Footprint and arithmetic per sentence (greenbench.measure.macs); theoretical energy is a 45 nm model."""
    ok = acc[acc.status == "ok"].copy()
    millions = lambda s: [f"{v / 1e6:.2f}" if pd.notna(v) else "n/a" for v in s]  # noqa: E731
    return pd.DataFrame(
        {
            "device": ok.device,
            "model": ok.model,
            "variant": ok.variant,
            "parameters (M)": millions(ok.parameters),
            "MACs/sentence dense-equiv. (M)": millions(ok.macs_dense),
            "MACs/sentence effective (M)": millions(ok.macs_effective),
            "ACs/sentence (M)": millions(ok.acs),
            "theoretical energy µJ/sentence (45 nm model)": [
                f"{v:.1f}" if pd.notna(v) else "n/a" for v in ok.theoretical_energy_uj
            ],
        }
    )


def _net_missing(m: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per j_per_inf_net row: the cell's measured rows without a net value and why (none in tables
    written before the energy table carried them)."""
    rows = m["net_unavailable_rows"] if "net_unavailable_rows" in m else pd.Series(0, index=m.index)
    why = m["net_unavailable_reason"] if "net_unavailable_reason" in m else pd.Series("", index=m.index)
    return rows.fillna(0).astype(int), why.fillna("").astype(str)


def _fmt_net(mean, low, high, n, missing: int, why: str) -> str:
    """J/inf net with its interval, or n/a with the reason where no row has one; rows without one said."""
    if not missing:
        return _fmt_ci(mean, low, high)
    if pd.isna(mean):
        return f"n/a ({why})" if why else "n/a"
    return f"{_fmt_ci(mean, low, high)} ({missing} of {int(n) + missing} rows n/a: {why})"


def net_note(energy: pd.DataFrame) -> str:
    """ "N of M measured rows have no net value: idle ≥ gross (N1), …" over the energy table's cells, or
    that every row has one; "" for a table with no net rows or written before it carried the count."""
    m = energy[energy.metric == "j_per_inf_net"]
    if m.empty or "net_unavailable_rows" not in m:
        return ""
    missing, why = _net_missing(m)
    total = int(missing.sum()) + int(m["n_trials"].fillna(0).astype(int).sum())
    if not missing.sum():
        return f"Every one of the {total} measured rows has a net J/inference value (gross less idle)."
    counts: dict[str, int] = {}
    for n, text in zip(missing, why):
        for reason, k in aggregate.net_reason_counts(n, text).items():
            counts[reason] = counts.get(reason, 0) + k
    parts = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    said = parts[0][0] if len(parts) == 1 else ", ".join(f"{reason} ({k})" for reason, k in parts)
    return (
        f"{int(missing.sum())} of {total} measured rows have no net value: {said} "
        "(J/inf net = gross less idle; the cells' net means are over the rows that have one)."
    )


def energy_table(energy: pd.DataFrame) -> pd.DataFrame:
    keys = aggregate.CELL
    wide = {}
    for metric, title in (
        ("latency_p50_ms", "latency p50 ms"),
        ("throughput_per_s", "throughput /s"),
        ("j_per_inf_gross", "J/inf gross"),
        ("j_per_inf_net", "J/inf net"),
    ):
        m = energy[energy.metric == metric].set_index(keys)
        if metric == "j_per_inf_net":
            missing, why = _net_missing(m)
            wide[title] = [
                _fmt_net(a, lo, hi, n, k, w)
                for a, lo, hi, n, k, w in zip(m["mean"], m.ci_low, m.ci_high, m.n_trials, missing, why)
            ]
        else:
            wide[title] = [_fmt_ci(a, lo, hi) for a, lo, hi in zip(m["mean"], m.ci_low, m.ci_high)]
        wide["_index"] = m.index
        if metric == "j_per_inf_gross":
            wide["energy label"] = list(m.energy_label)
            wide["trials"] = list(m.n_trials)
    if "_index" not in wide:
        return pd.DataFrame(columns=keys)
    index = wide.pop("_index")
    return pd.DataFrame(wide, index=index).reset_index()


def length_table(by_length: pd.DataFrame) -> pd.DataFrame:
    """J per sentence by length bin, one row per dynamic-padding cell, bins as columns (with shares)."""
    if by_length.empty:
        return pd.DataFrame()
    df = by_length.sort_values(aggregate.CELL + ["bin_lo"])
    df = df.assign(
        cell=[
            f"{_fmt_ci(j, lo, hi)} ({100 * s:.0f}% of sentences)"
            for j, lo, hi, s in zip(df.j_per_inf_gross, df.ci_low, df.ci_high, df.share_of_inferences)
        ]
    )
    bins = list(dict.fromkeys(df.length_bin))
    wide = df.pivot_table(index=aggregate.CELL + ["energy_label"], columns="length_bin", values="cell", aggfunc="first")
    return wide[[b for b in bins if b in wide.columns]].reset_index().rename_axis(columns=None)


def write_paper(
    stats_dir: str | Path,
    measurements_path: str | Path,
    out_dir: str | Path,
    n_boot: int,
    seed: int,
    forecast_metrics_path: str | Path | None = None,
    schedule_path: str | Path | None = None,
    first_stage: int = 0,
    footprint_path: str | Path | None = None,
    amortization_path: str | Path | None = None,
    horizon: float = 1e9,
    answer_path: str | Path | None = None,
    answer_traffic_path: str | Path | None = None,
    answer_runtimes_path: str | Path | None = None,
    answer_composed_path: str | Path | None = None,
) -> pd.DataFrame:
    stats_dir, out_dir = Path(stats_dir), Path(out_dir)
    acc = io.read_parquet(stats_dir / "accuracy.parquet")
    energy = io.read_parquet(stats_dir / "energy.parquet")
    ratios = io.read_parquet(stats_dir / "ratios.parquet")
    measurements = aggregate.usable(io.read_parquet(measurements_path))
    tables = {
        "Accuracy on SST-2 dev": accuracy_table(acc),
        "Compute per sentence (dense-equivalent vs effective; theoretical energy is a model, not a measurement)": compute_table(
            acc
        ),
        "Latency, throughput and energy per cell": energy_table(energy),
        "Paired ratios against fp32 (same trial and cell)": ratios.assign(
            ratio=[_fmt_ci(r, lo, hi) for r, lo, hi in zip(ratios.ratio, ratios.ci_low, ratios.ci_high)]
        )[aggregate.CELL + ["metric", "n_pairs", "ratio", "p_holm", "effect_size_dz", "energy_label"]],
        "Gross J per sentence by sentence length (tokens; window energy split by measured time)": length_table(
            io.read_parquet(stats_dir / "energy_by_length.parquet")
        ),
    }
    md = ["# greenbench tables", ""]
    tex = ["% greenbench tables (generated)"]
    notes = {"Latency, throughput and energy per cell": net_note(energy)}
    for title, df in tables.items():
        md += [f"## {title}", "", df.to_markdown(index=False) if len(df) else "_no rows_", ""]
        tex += [
            f"% {title}",
            df.to_latex(index=False, escape=True, caption=title, na_rep="n/a") if len(df) else "% no rows",
            "",
        ]
        if notes.get(title):
            md += [notes[title], ""]
            tex += [notes[title], ""]
    io.write_text("\n".join(md), out_dir / "tables.md")
    io.write_text("\n".join(tex), out_dir / "tables.tex")
    forecast = io.read_parquet(forecast_metrics_path) if forecast_metrics_path else None
    if schedule_path:
        from greenbench.carbon.routing import read_results

        schedule = read_results(schedule_path)
    else:
        schedule = None
    if forecast is not None:
        from greenbench.carbon.forecasting import day1_summary

        day1 = day1_summary(forecast).pivot(index="zone", columns="model", values="mape").reset_index()
        md += [
            "## Day-1 MAPE (%) by zone and forecaster (mean over lead 1-24 h, test period)",
            "",
            day1.to_markdown(index=False, floatfmt=".2f"),
            "",
        ]
        io.write_text("\n".join(md), out_dir / "tables.md")
    if schedule is not None:
        from greenbench.report import where

        md += ["## Carbon-aware scheduling", "", schedule.to_markdown(index=False, floatfmt=".4g"), ""]
        md += where.tables_section(schedule, io.read_parquet(footprint_path) if footprint_path else None)
        from greenbench.carbon.routing import read_sensitivity

        md += where.sensitivity_section(read_sensitivity(schedule_path))
        io.write_text("\n".join(md), out_dir / "tables.md")
    lifecycle = io.read_parquet(amortization_path) if amortization_path else None
    if lifecycle is not None:
        from greenbench.analysis import amortization

        section = [
            "## Lifecycle energy: when each variant pays back its build (against fp32 eager)",
            "",
            "Build = the baseline fine-tune + the variant's own build (rewrite, recovery fine-tune, export or "
            "compile), one measurement each from results/stats/footprint.parquet; break-even N from the J/inference "
            "ratio's 95% interval.",
            "",
            amortization.to_markdown(lifecycle) if len(lifecycle) else "_no rows_",
            "",
        ]
        md += section
        io.write_text("\n".join(md), out_dir / "tables.md")
    if footprint_path:
        from greenbench.analysis import study_cost as footprint

        text = footprint.to_markdown(io.read_parquet(footprint_path))
        if lifecycle is not None:
            text += "\n" + "\n".join(section)
        io.write_text(text, out_dir / "footprint.md")
    if answer_path:  # the answer's tables (stage `answer`) rendered, with the settings they were made with
        from greenbench.report import answer, where

        footprint_g = where.study_footprint(io.read_parquet(footprint_path) if footprint_path else None)[0]
        where_lines = where.to_markdown_lines(where.where_and_when(schedule, footprint_g))
        table = io.read_parquet(answer_path)
        levels = io.read_parquet(answer_traffic_path) if answer_traffic_path else None
        by_runtime = io.read_parquet(answer_runtimes_path) if answer_runtimes_path else None
        composed = io.read_parquet(answer_composed_path) if answer_composed_path else None
        answer_settings = io.read_metadata(answer_path)["settings"]["answer"]
        hosts = host.recorded(io.read_metadata(measurements_path))
        io.write_text(
            answer.to_markdown(
                table,
                where_lines,
                answer_settings,
                hosts,
                levels,
                by_runtime,
                composed,
                answer.ranked_without_energy(table, energy, acc, answer_settings),
            ),
            out_dir / "answer.md",
        )
    evidence = claims.Evidence(
        measurements,
        acc,
        n_boot=n_boot,
        seed=seed,
        forecast=forecast,
        schedule=schedule,
        first_stage=first_stage,
        amortization=lifecycle,
        horizon=horizon,
    )
    verdicts = claims.check_claims(evidence)
    devices = ", ".join(sorted(set(measurements.device))) or "none"
    names = ", ".join(sorted(set(measurements.device_name.dropna()))) or "unknown"
    note = f"Measured on: {devices} ({names}). Counts: {claims.summary_counts(verdicts)}."
    io.write_text(claims.to_markdown(verdicts, note), out_dir / "claims.md")
    log.info("paper outputs in %s: %s", out_dir, claims.summary_counts(verdicts))
    return verdicts
