"""The selected forecaster against seasonal-naive-24h, on any set of zones (issue 18's check).

    GREENBENCH_DATA=../shared/data python benchmarks/forecast_selection.py OUT_DIR ZONE [ZONE ...]

Runs the default config's forecasting protocol (`carbon.forecast`, years, column, gap and ceiling
rules) unchanged on the given zones' Electricity Maps traces from the mirror, and writes to OUT_DIR
the metrics table, the selection and `summary.md`: per zone, day-1 MAPE of each forecaster divided by
seasonal-naive-24h's, and the selected forecaster's mean 90% interval coverage over leads 1-24 h.
Nothing is tuned on the zones it is run on.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

from greenbench.core import io
from greenbench.carbon import forecasting as forecast, traces
from greenbench.config.load import load_config, validate_config


def main(out_dir: str, zones: list[str]) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(["config/config.yaml"])
    c = cfg["carbon"]
    c["zones"] = zones
    c["schedule"]["origin_shares"] = {z: 1.0 for z in zones}
    c["schedule"]["latency_ms"] = {z: {y: 10 for y in zones} for z in zones}
    c["schedule"]["scenarios"] = {"all": {}}
    cfg["footprint"]["zone"] = zones[0]
    cfg = validate_config(cfg)
    c = cfg["carbon"]
    work = out / "work"
    files = [
        traces.retrieve_trace(z, y, work / "csv" / f"{z}_{y}_hourly.csv") for z in zones for y in sorted(c["years"])
    ]
    traces.prepare_traces(files, work / "traces.parquet", c["column"], c["max_gap_hours"], c["max_ci_g_per_kwh"])
    fc = dict(c["forecast"], zones=zones)
    table = forecast.run_forecasting(
        work / "traces.parquet",
        fc,
        int(cfg["seed"]),
        out / "forecast_metrics.parquet",
        work / "forecasts.parquet",
        work / "forecaster",
    )
    shutil.copy(work / "forecaster" / forecast.SELECTION_FILE, out / forecast.SELECTION_FILE)
    day1 = forecast.day1_summary(table)
    ratio = day1.pivot(index="zone", columns="model", values="mape")
    ratio = ratio.div(ratio[forecast.NAIVE], axis=0).drop(columns=[forecast.NAIVE])
    cov = day1[day1.model == forecast.SELECTED].set_index("zone")["coverage"].rename("selected coverage % (nominal 90)")
    summary = pd.concat([ratio.round(3), cov.round(1)], axis=1)
    summary.loc["mean"] = summary.mean().round(3)
    choice = (
        table[(table.model == forecast.SELECTED) & (table.lead_h <= 24)]
        .groupby("zone")
        .choice.agg(lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items()))
    )
    text = (
        f"# Day-1 MAPE ÷ seasonal-naive-24h, zones {', '.join(zones)}\n\n"
        f"Protocol: config/config.yaml's carbon.forecast unchanged (train {fc['train_start']}..{fc['train_end']} "
        f"minus the last {fc['calibration_days']} days = validation/calibration, test {fc['test_start']}.."
        f"{fc['test_end']}, daily origins).\n\n"
        + summary.to_markdown()
        + "\n\nChoice of the selected forecaster, leads 1-24 h (count of leads):\n\n"
        + choice.to_markdown()
        + "\n"
    )
    io.write_text(text, out / "summary.md")
    shutil.rmtree(work)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
