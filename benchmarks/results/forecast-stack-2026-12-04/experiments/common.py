"""Shared set-up of the experiments: the cache of benchmarks/forecast_cache.py (dir $CACHE) and its windows.
Run from the repository root: CACHE=<dir> python benchmarks/results/forecast-stack-2026-12-04/experiments/<x>.py"""
import os, pickle, sys
import pandas as pd
sys.path.insert(0, "src")
from greenbench import io
from greenbench.carbon import forecast, metrics

CACHE = os.environ.get("CACHE", "cache")
d = pickle.load(open(CACHE + "/cache.pkl", "rb"))
fc = d["fc"]; preds = d["preds"]
tr = io.read_parquet(CACHE + "/traces.parquet")
zones = fc["zones"]; lb = 168; H = 96
train_end = pd.Timestamp(fc["train_end"], tz="UTC"); cs = train_end - pd.Timedelta(days=int(fc["calibration_days"]))
fit = forecast.zone_windows(tr, zones, lb, H, fc["train_start"], str(cs), 1)
fitall = forecast.zone_windows(tr, zones, lb, H, fc["train_start"], str(train_end), 1)
calib = forecast.zone_windows(tr, zones, lb, H, str(cs), str(train_end), 1, daily=True)
test = forecast.zone_windows(tr, zones, lb, H, fc["test_start"], fc["test_end"], 1, daily=True)


def d1(y, f):
    return metrics.day1(metrics.mape(y, f))
