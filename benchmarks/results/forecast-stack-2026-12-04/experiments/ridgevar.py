import pickle, sys
import numpy as np, pandas as pd
sys.path.insert(0, "src"); import os
CACHE = os.environ.get("CACHE", "cache")
from greenbench import io
from greenbench.carbon import forecast, metrics
d = pickle.load(open(CACHE + "/cache.pkl", "rb"))
fc = d["fc"]; preds = d["preds"]
tr = io.read_parquet(CACHE + "/traces.parquet")
zones = fc["zones"]; lb = 168; H = 96
train_end = pd.Timestamp(fc["train_end"], tz="UTC"); cs = train_end - pd.Timedelta(days=int(fc["calibration_days"]))
fit = forecast.zone_windows(tr, zones, lb, H, fc["train_start"], str(cs), 1)
calib = forecast.zone_windows(tr, zones, lb, H, str(cs), str(train_end), 1, daily=True)
test = forecast.zone_windows(tr, zones, lb, H, fc["test_start"], fc["test_end"], 1, daily=True)
def d1(y, f): return metrics.day1(metrics.mape(y, f))
class AllHours(forecast.Ridge):
    def predict(self, w):
        X, last = forecast._log_features(w, self.lags); out = np.empty(w.y.shape)
        for z in np.unique(w.zone):
            s = w.zone == z; out[s] = np.exp(X[s] @ self.W[(z, None)] + last[s])
        return out
res = {}
for alpha in [3, 10, 30, 100, 300, 1000]:
    m = forecast.Ridge(alpha).fit(fit)
    res[f"r{alpha}"] = (m.predict(calib), m.predict(test))
    a = AllHours(alpha); a.__dict__.update(m.__dict__)
    res[f"all{alpha}"] = (a.predict(calib), a.predict(test))
for name, (c, t) in res.items():
    row = []
    for z in zones:
        sc, st = calib.zone == z, test.zone == z
        row.append(f"{z} v{d1(calib.y[sc], c[sc]) / d1(calib.y[sc], preds['seasonal_naive_24h'][0][sc]):.3f}/t{d1(test.y[st], t[st]) / d1(test.y[st], preds['seasonal_naive_24h'][1][st]):.3f}")
    print(name, " ".join(row))
