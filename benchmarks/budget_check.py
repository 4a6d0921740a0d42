"""Issue 21's interval criterion: is every paired ratio the study reports at least as precise as in the
recorded 5-trial CPU study, or at the configured target, whichever is wider?

    python benchmarks/budget_check.py RESULTS_DIR [--old benchmarks/results/cpu-default-2026-11-22-remeasured]
        [--target 0.03] [--out summary.md]

Compares (a) every ratio of ``RESULTS_DIR/stats/ratios.parquet`` against fp32 on dynamic padding with the
old ``ratios_vs_fp32.csv`` (same variant, batch, metric; a cell the old study lacks, e.g. a runtime cell,
must be within the target), and (b) every "ratio (95% CI a–b)" of ``paper/claims.md`` with the same
claim in the old claims.md, else with the same ratio quoted by another old claim, else the target. Relative half-width = (high − low) / (2 × ratio).
Also prints the wall time by rule from ``RESULTS_DIR/benchmarks`` (Snakemake's benchmark files).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

METRICS = ("j_per_inf_gross", "latency_p50_ms", "latency_p95_ms", "throughput_per_s")
CI = re.compile(
    r"(?P<name>[\w@.]+/[\w@.]+)(?: at batch \d+)?(?: on \w+)? = (?P<r>[0-9.]+) "
    r"\(95% CI (?P<lo>[0-9.]+)–(?P<hi>[0-9.]+)\)"
)


def rel_half_width(ratio, low, high):
    return (high - low) / (2 * ratio)


def ratio_rows(results: Path, old: Path, target: float) -> pd.DataFrame:
    new = pd.read_parquet(results / "stats" / "ratios.parquet")
    new = new[(new.padding == "dynamic") & new.metric.isin(METRICS) & new.ratio.notna()]
    before = pd.read_csv(old / "ratios_vs_fp32.csv")
    before = before[(before.padding == "dynamic") & before.metric.isin(METRICS) & before.ratio.notna()]
    keys = ["variant", "batch_size", "metric"]
    merged = new.merge(before[keys + ["ratio", "ci_low", "ci_high"]], on=keys, suffixes=("", "_old"), how="left")
    merged["hw_new"] = rel_half_width(merged.ratio, merged.ci_low, merged.ci_high)
    merged["hw_old"] = rel_half_width(merged.ratio_old, merged.ci_low_old, merged.ci_high_old)
    merged["allowed"] = merged.hw_old.clip(lower=target)
    merged["ok"] = merged.hw_new <= merged.allowed + 1e-12
    return merged[keys + ["n_pairs", "ratio", "hw_new", "ratio_old", "hw_old", "allowed", "ok"]]


def claim_rows(results: Path, old: Path, target: float) -> pd.DataFrame:
    def parse(path: Path) -> dict[str, list[tuple[str, float, float, float]]]:
        out = {}
        for line in path.read_text().splitlines():
            if line.startswith("| ") and "95% CI" in line:
                claim, measured = line.split(" | ")[0].strip("| "), line.split(" | ")[2]
                out[claim] = [
                    (
                        ("energy " if "energy" in measured[: m.start()] else "") + m["name"],
                        float(m["r"]),
                        float(m["lo"]),
                        float(m["hi"]),
                    )
                    for m in CI.finditer(measured)
                ]
        return out

    new, before = parse(results / "paper" / "claims.md"), parse(old / "claims.md")
    # a ratio a new claim quotes that an old claim quoted under the same name (e.g. "energy int8_dynamic/fp32")
    by_name = {v[0]: v[1:] for values in before.values() for v in values}
    rows = []
    for claim, values in new.items():
        for i, (name, r, lo, hi) in enumerate(values):
            old_values = before.get(claim, [])
            old_value = old_values[i][1:] if i < len(old_values) else by_name.get(name)
            hw_old = rel_half_width(*old_value) if old_value else float("nan")
            allowed = max(hw_old, target) if hw_old == hw_old else target
            rows.append(
                {
                    "claim": claim[:60],
                    "ratio of": name,
                    "ratio": r,
                    "hw_new": rel_half_width(r, lo, hi),
                    "hw_old": hw_old,
                    "allowed": allowed,
                    "ok": rel_half_width(r, lo, hi) <= allowed + 1e-12,
                }
            )
    return pd.DataFrame(rows)


def wall_by_rule(results: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = tsv.relative_to(results / "benchmarks").parts[0].removesuffix(".tsv")
        rows.append({"rule": rule, "s": float(pd.read_csv(tsv, sep="\t")["s"].iloc[-1])})
    df = pd.DataFrame(rows)
    return df.groupby("rule").agg(jobs=("s", "size"), seconds=("s", "sum")).sort_values("seconds", ascending=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path)
    p.add_argument("--old", type=Path, default=Path("benchmarks/results/cpu-default-2026-11-22-remeasured"))
    p.add_argument("--target", type=float, default=0.05)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    ratios, claim, wall = (
        ratio_rows(a.results, a.old, a.target),
        claim_rows(a.results, a.old, a.target),
        wall_by_rule(a.results),
    )
    both = ratios[ratios.hw_old.notna()]
    text = [
        "## Paired ratios vs fp32 (dynamic padding)",
        "",
        f"{int(ratios.ok.sum())} of {len(ratios)} at least as precise as before or within ±{100 * a.target:.0f}% "
        f"(of the {len(both)} the old study also has: {int(both.ok.sum())}; median half-width "
        f"{100 * ratios.hw_new.median():.1f}% now, {100 * both.hw_old.median():.1f}% before).",
        "",
        ratios.to_markdown(index=False, floatfmt=".4f"),
        "",
        "## Ratios quoted in claims.md",
        "",
        f"{int(claim.ok.sum())} of {len(claim)} ok (no old value: the target applies).",
        "",
        claim.to_markdown(index=False, floatfmt=".4f") if len(claim) else "_none_",
        "",
        "## Wall time by rule (Snakemake benchmark files)",
        "",
        wall.to_markdown(floatfmt=".1f"),
        "",
        f"total {wall.seconds.sum() / 60:.1f} min of job time",
        "",
    ]
    out = "\n".join(text)
    print(out)
    if a.out:
        a.out.write_text(out)


if __name__ == "__main__":
    main()
