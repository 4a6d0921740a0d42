"""Mean of the top-K candidates per block of leads by validation MAPE (plain and inverse-MAPE weights),
with ridges of the given penalties (refit on train + validation with `refit`).

    CACHE=<dir> python experiments/2026-12-04-forecast-stack/ens.py ALPHAS K BLOCK [refit]   # e.g. 30 2 6 refit
"""

import sys

import numpy as np

from common import H, calib, d1, fit, fitall, forecast, metrics, preds, test, zones

REFIT = "refit" in sys.argv
alphas = [float(a) for a in sys.argv[1].split(",")]
cands = {k: (np.maximum(v[0], 0), np.maximum(v[1], 0)) for k, v in preds.items()}
for a in alphas:
    m = forecast.Ridge(a).fit(fit)
    tp = forecast.Ridge(a).fit(fitall).predict(test) if REFIT else m.predict(test)
    cands[f"ridge{a:g}"] = (m.predict(calib), tp)
del cands["ridge"]
names = list(cands)


def mape_lead(y, f):
    return metrics.mape(y, f)


K = int(sys.argv[2])
block = int(sys.argv[3])
out = {m: [] for m in ["best", f"top{K}", f"invw{K}"]}
for z in zones:
    sc, st = calib.zone == z, test.zone == z
    C = np.stack([cands[n][0][sc] for n in names], -1)
    T = np.stack([cands[n][1][st] for n in names], -1)
    V = np.stack([mape_lead(calib.y[sc], C[..., i]) for i in range(len(names))], -1)  # H x M
    res = {m: np.empty(test.y[st].shape) for m in out}
    for b0 in range(0, H, block):
        sl = slice(b0, b0 + block)
        v = V[sl].mean(0)
        order = np.argsort(v)
        res["best"][:, sl] = T[:, sl, order[0]]
        res[f"top{K}"][:, sl] = T[:, sl][..., order[:K]].mean(-1)
        w = 1 / v[order[:K]]
        w /= w.sum()
        res[f"invw{K}"][:, sl] = T[:, sl][..., order[:K]] @ w
    n = d1(test.y[st], cands["seasonal_naive_24h"][1][st])
    for m in out:
        out[m].append(d1(test.y[st], res[m]) / n)
for m, v in out.items():
    print(sys.argv[1:], m, " ".join(f"{z} {x:.3f}" for z, x in zip(zones, v)), f"mean {np.mean(v):.3f}")
