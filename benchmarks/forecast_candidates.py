"""From benchmarks/forecast_cache.py's cache: day-1 MAPE / seasonal-naive-24h of the selected forecaster
with and without the combination candidates, and its interval coverage (day-1 / all leads) and median
day-1 half-width for each ACI rate given.

    PYTHONPATH=src python benchmarks/forecast_candidates.py OUT_DIR/cache.pkl 0 0.01 0.05 0.1
"""
import pickle, sys
import numpy as np
from greenbench.carbon import forecast, metrics
d = pickle.load(open(sys.argv[1], "rb"))
calib, test, preds, fc = d["calib"], d["test"], d["preds"], d["fc"]
gammas = [float(g) for g in sys.argv[2:]] or [0.0]
cp = forecast.with_combinations({k: np.maximum(v[0], 0.0) for k, v in preds.items()})
tp = forecast.with_combinations({k: np.maximum(v[1], 0.0) for k, v in preds.items()})
zones = sorted(set(test.zone))
val = {z: {n: metrics.mape(calib.y[calib.zone == z], p[calib.zone == z]) for n, p in cp.items()} for z in zones}
def sel_from(names):
    return forecast.select_by_validation({z: {n: val[z][n] for n in names} for z in zones})
base_names = ["seasonal_naive_24h", "seasonal_naive_168h", "ridge", "tcn"]
for label, names in [("selected(base)", base_names), ("selected(+combo)", base_names + ["ridge+tcn"])]:
    ch = sel_from(names)
    cal_s = forecast.compose_selected(cp, calib.zone, ch); tst_s = forecast.compose_selected(tp, test.zone, ch)
    row = []
    for z in zones:
        s = test.zone == z
        r = metrics.day1(metrics.mape(test.y[s], tst_s[s])) / metrics.day1(metrics.mape(test.y[s], tp["seasonal_naive_24h"][s]))
        row.append(f"{z} {r:.3f}")
    print(label, " ".join(row))
    for g in gammas:
        covs = []
        for z in zones:
            c, s = calib.zone == z, test.zone == z
            half = forecast.adaptive_conformal_halfwidths(np.concatenate([calib.origin[c], test.origin[s]]),
                forecast.relative_errors(np.vstack([calib.y[c], test.y[s]]), np.vstack([cal_s[c], tst_s[s]])),
                test.origin[s], int(fc["horizon_h"]), 0.9, int(fc["calibration_days"]), g)
            f = tst_s[s]
            cov = metrics.coverage(test.y[s], *forecast.interval_bounds(f, half))
            covs.append(f"{z} {cov[:24].mean():.1f}/{cov.mean():.1f} w{np.median(half[:, :24]):.3f}")
        print(f"   gamma {g}: ", " ".join(covs))
for n in ["ridge", "tcn", "ridge+tcn"]:
    print(n, " ".join(f"{z} {metrics.day1(metrics.mape(test.y[test.zone==z], tp[n][test.zone==z]))/metrics.day1(metrics.mape(test.y[test.zone==z], tp['seasonal_naive_24h'][test.zone==z])):.3f}" for z in zones))
