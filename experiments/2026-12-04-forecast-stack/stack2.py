"""Convex stacking over seasonal-naive 24 h / 168 h, the TCN and ridges of the given penalties: per zone and
block of leads, the weight vector on a grid of step STEP with the lowest validation MAPE (refit the ridges on
train + validation with `refit`).

    CACHE=<dir> python experiments/2026-12-04-forecast-stack/stack2.py ALPHAS STEP BLOCK [refit]   # e.g. 30,3 0.1 6 refit
"""

import itertools
import sys

import numpy as np

from common import calib, d1, fit, fitall, forecast, preds, test, zones

alphas, step, block, refit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), "refit" in sys.argv
cands = {
    k: (np.maximum(preds[k][0], 0), np.maximum(preds[k][1], 0))
    for k in ["seasonal_naive_24h", "seasonal_naive_168h", "tcn"]
}
for a in [float(x) for x in alphas.split(",")]:
    m = forecast.Ridge(a).fit(fit)
    cands[f"r{a:g}"] = (m.predict(calib), forecast.Ridge(a).fit(fitall).predict(test) if refit else m.predict(test))
names = list(cands)
n = round(1 / step)
grid = np.array([c for c in itertools.product(range(n + 1), repeat=len(names)) if sum(c) == n], float) / n
out = []
for z in zones:
    sc, st = calib.zone == z, test.zone == z
    C = np.stack([cands[k][0][sc] for k in names], -1)
    T = np.stack([cands[k][1][st] for k in names], -1)
    yc, yt = calib.y[sc], test.y[st]
    ft = np.empty_like(yt)
    for b0 in range(0, 24, block):
        sl = slice(b0, b0 + block)
        fcb = np.einsum("olm,gm->gol", C[:, sl], grid)
        err = np.mean(np.abs(fcb - yc[None, :, sl]) / np.maximum(yc[None, :, sl], 1e-6), axis=(1, 2))
        ft[:, sl] = T[:, sl] @ grid[np.argmin(err)]
    out.append(d1(yt[:, :24], ft[:, :24]) / d1(yt[:, :24], cands["seasonal_naive_24h"][1][st][:, :24]))
print(sys.argv[1:], " ".join(f"{z} {x:.3f}" for z, x in zip(zones, out)), f"mean {np.mean(out):.3f}")
