"""Shared set-up of the experiments: the cache of forecast_cache.py (dir $CACHE) and its windows.
Run from the repository root: CACHE=<dir> python experiments/2026-12-04-forecast-stack/<x>.py
(Python puts the script's folder first on its path, so the scripts import this module as ``common``.)"""

import os
import pickle

import pandas as pd

from greenbench.core import io
from greenbench.carbon import forecasting as forecast, metrics

CACHE = os.environ.get("CACHE", "cache")
d = pickle.load(open(CACHE + "/cache.pkl", "rb"))
fc = d["fc"]
preds = d["preds"]
tr = io.read_parquet(CACHE + "/traces.parquet")
zones = fc["zones"]
lb = 168
H = 96
train_end = pd.Timestamp(fc["train_end"], tz="UTC")
cs = train_end - pd.Timedelta(days=int(fc["calibration_days"]))
fit = forecast.zone_windows(tr, zones, lb, H, fc["train_start"], str(cs), 1)
fitall = forecast.zone_windows(tr, zones, lb, H, fc["train_start"], str(train_end), 1)
calib = forecast.zone_windows(tr, zones, lb, H, str(cs), str(train_end), 1, daily=True)
test = forecast.zone_windows(tr, zones, lb, H, fc["test_start"], fc["test_end"], 1, daily=True)


def d1(y, f):
    return metrics.day1(metrics.mape(y, f))
