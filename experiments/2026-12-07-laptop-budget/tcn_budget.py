"""The TCN's training budget against the selected stack's day-1 MAPE, on the five tuning zones only (the
eight validation zones stay unseen). Each setting retrains every forecaster of the default config with
only carbon.forecast.tcn changed, and prints day-1 MAPE (leads 1-24 h) of the TCN, the ridge, the
seasonal-naive baseline and the stack `selected`.

    python experiments/2026-12-07-laptop-budget/tcn_budget.py results/carbon/traces.parquet OUT_DIR
"""

import copy
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from greenbench.carbon.forecasting import run_forecasting

torch.set_num_threads(2)
traces, out = sys.argv[1], Path(sys.argv[2])
root = Path(__file__).resolve().parents[2]
cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())["carbon"]
forecast = dict(cfg["forecast"], zones=cfg["zones"])
settings = {
    "all windows, 10 epochs (before)": {"max_train_windows": 0, "epochs": 10},
    "8,000 windows, 10 epochs": {"max_train_windows": 8000, "epochs": 10},
    "12,000 windows, 6 epochs (adopted)": {"max_train_windows": 12000, "epochs": 6},
    "all windows, 4 epochs": {"max_train_windows": 0, "epochs": 4},
}
for i, (label, tcn) in enumerate(settings.items()):
    c = copy.deepcopy(forecast)
    c["tcn"] = {**c["tcn"], **tcn}
    t0 = time.perf_counter()
    run_forecasting(traces, c, 42, out / f"metrics-{i}.parquet", out / f"forecasts-{i}.parquet", out / f"model-{i}")
    seconds = time.perf_counter() - t0
    m = pd.read_parquet(out / f"metrics-{i}.parquet")
    day1 = m[m.lead_h <= 24].groupby(["model", "zone"]).mape.mean().unstack()
    print(f"## {label}: {seconds:.0f} s for every forecaster")
    print(day1.loc[["tcn", "ridge", "seasonal_naive_24h", "selected"]].round(2).to_string(), flush=True)
