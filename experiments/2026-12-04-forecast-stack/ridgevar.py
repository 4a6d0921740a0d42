"""The ridge penalty alone: per origin hour (the library's ridge) or one all-hours model per zone, α 3 … 1000.

CACHE=<dir> python experiments/2026-12-04-forecast-stack/ridgevar.py
"""

import numpy as np

from common import calib, d1, fit, forecast, preds, test, zones


class AllHours(forecast.Ridge):
    def predict(self, w):
        X, last = forecast._log_features(w, self.lags)
        out = np.empty(w.y.shape)
        for z in np.unique(w.zone):
            s = w.zone == z
            out[s] = np.exp(X[s] @ self.W[(z, None)] + last[s])
        return out


res = {}
for alpha in [3, 10, 30, 100, 300, 1000]:
    m = forecast.Ridge(alpha).fit(fit)
    res[f"r{alpha}"] = (m.predict(calib), m.predict(test))
    a = AllHours(alpha)
    a.__dict__.update(m.__dict__)
    res[f"all{alpha}"] = (a.predict(calib), a.predict(test))
for name, (c, t) in res.items():
    row = []
    for z in zones:
        sc, st = calib.zone == z, test.zone == z
        row.append(
            f"{z} v{d1(calib.y[sc], c[sc]) / d1(calib.y[sc], preds['seasonal_naive_24h'][0][sc]):.3f}/t{d1(test.y[st], t[st]) / d1(test.y[st], preds['seasonal_naive_24h'][1][st]):.3f}"
        )
    print(name, " ".join(row))
