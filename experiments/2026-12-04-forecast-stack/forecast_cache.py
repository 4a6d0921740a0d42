"""Fit the default config's forecasters once on ZONES and cache the validation/test windows and every
model's predictions, so that candidate combinations and interval rules can be compared in seconds
(the scripts beside this one, with CACHE=OUT_DIR; on 2026-12-03 benchmarks/forecast_candidates.py, in the
history at commit 66b5307). Use it on the default (tuning) zones only.

    GREENBENCH_DATA=../shared/data python experiments/2026-12-04-forecast-stack/forecast_cache.py OUT_DIR DE ES FR GB PL
"""

import pickle, sys
from pathlib import Path
from greenbench.carbon import forecasting as forecast, traces
from greenbench.config.load import load_config, validate_config

out = Path(sys.argv[1])
zones = sys.argv[2:]
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
files = [traces.retrieve_trace(z, y, out / "csv" / f"{z}_{y}_hourly.csv") for z in zones for y in sorted(c["years"])]
traces.prepare_traces(files, out / "traces.parquet", c["column"], c["max_gap_hours"], c["max_ci_g_per_kwh"])
fc = dict(c["forecast"], zones=zones)
import pandas as pd
from greenbench.core import io

tr = io.read_parquet(out / "traces.parquet")
lookback, horizon = int(fc["lookback_h"]), int(fc["horizon_h"])
lb = max(lookback, 168)
train_end = pd.Timestamp(fc["train_end"], tz="UTC")
calib_start = train_end - pd.Timedelta(days=int(fc["calibration_days"]))
fit = forecast.zone_windows(tr, zones, lb, horizon, fc["train_start"], str(calib_start), int(fc["train_stride_h"]))
calib = forecast.zone_windows(tr, zones, lb, horizon, str(calib_start), str(train_end), 1, daily=True)
test = forecast.zone_windows(tr, zones, lb, horizon, fc["test_start"], fc["test_end"], 1, daily=True)
preds = {}
for m in forecast.build_models(fc):
    p = forecast._predictor(m)
    m.fit(fit, int(cfg["seed"]))  # a model that needs less history (the TCN) takes the end of each window
    preds[m.name] = (p(calib), p(test))
    print(m.name, flush=True)
strip = lambda w: forecast.Windows(None, w.y, w.hour, w.dow, w.zone, w.origin)
pickle.dump({"calib": strip(calib), "test": strip(test), "preds": preds, "fc": fc}, open(out / "cache.pkl", "wb"))
