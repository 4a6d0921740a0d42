"""Copy the headline outputs of a finished run into benchmarks/results/<name>/ (CSV, Markdown, PNG).

    python benchmarks/export_run.py --results results --out benchmarks/results/cpu-default-YYYY-MM-DD

The CSVs are the Parquet tables as they are (no rounding); provenance.json is the metadata of the
first energy trial (git commit, versions, config hash, device).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from greenbench.core import io

TABLES = {  # csv name -> parquet under results/
    "eval_summary.csv": "eval/summary.parquet",
    "energy_stats.csv": "stats/energy.parquet",
    "ratios_vs_fp32.csv": "stats/ratios.parquet",
    "harness_overhead.csv": "stats/overhead.parquet",
    "energy_by_length.csv": "stats/energy_by_length.parquet",
    "accuracy_stats.csv": "stats/accuracy.parquet",
}
COPIES = [
    "paper/claims.md",
    "paper/tables.md",
    "figures/difficulty_by_length.png",
    "figures/energy_by_batch.png",
    "figures/pareto_accuracy_energy.png",
    "figures/forecast_vs_actual.png",
    "figures/scheduler_front.png",
    "figures/forecast_mape_by_lead.png",
    "figures/spiking_firing_rates.png",
    "figures/accuracy_by_variant.png",
]


def export(results: Path, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rel in TABLES.items():
        src = results / rel
        if not src.exists():
            raise FileNotFoundError(f"{src}: missing; run the pipeline to the end first")
        io.write_text(io.read_parquet(src).to_csv(index=False), out / name)
        written.append(out / name)
    for schedule in sorted((results / "carbon" / "schedule").glob("*.parquet")):  # one per scenario
        io.write_text(io.read_parquet(schedule).to_csv(index=False), out / f"schedule_{schedule.stem}.csv")
        written.append(out / f"schedule_{schedule.stem}.csv")
    metrics = results / "carbon" / "forecast_metrics.parquet"
    if metrics.exists():
        from greenbench.carbon.forecasting import day1_summary

        io.write_text(day1_summary(io.read_parquet(metrics)).to_csv(index=False), out / "forecast_day1.csv")
        written.append(out / "forecast_day1.csv")
    for rel in COPIES:
        io.copy_file(results / rel, out / Path(rel).name)
        written.append(out / Path(rel).name)
    trials = sorted((results / "energy").glob("*/*/trial-*.parquet"))
    if trials:
        meta = io.read_metadata(trials[0])
        keep = {
            k: meta.get(k)
            for k in ("git_commit", "versions", "platform", "processor", "threads", "config_hash", "device_name")
        }
        io.write_json(keep, out / "provenance.json")
        written.append(out / "provenance.json")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for path in export(args.results, args.out):
        print(path)


if __name__ == "__main__":
    main()
