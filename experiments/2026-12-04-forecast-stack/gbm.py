"""A gradient-boosted model (scikit-learn HistGradientBoosting on lags, same-hour lags, calendar; leads
1-24 h), alone and averaged with ridge / ridge + TCN. Needs scikit-learn (not a dependency of greenbench).

    CACHE=<dir> python experiments/2026-12-04-forecast-stack/gbm.py
"""

import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

from common import calib, d1, fit, forecast, lb, preds, test, zones

L = 24  # leads 1-24 h


def feats(w, leads):
    logs = np.log(np.maximum(w.x, 1.0))
    last = logs[:, -1:]
    rel = logs - last
    rows = []
    for h in leads:
        same = [rel[:, lb + h - k * 24] for k in range(1 + h // 24, 8)]  # same target hour, previous days
        F = np.column_stack(
            [
                rel[:, -24:],
                np.column_stack(same),
                logs[:, -1],
                rel[:, -168:].mean(1),
                (w.hour + h) % 24,
                w.dow,
                np.full(len(w.x), h),
            ]
        )
        rows.append(F)
    return rows, last


for z in zones:
    t0 = time.time()
    f, c, t = (forecast._subset(w, w.zone == z) for w in (fit, calib, test))
    Ff, lastf = feats(f, range(L))
    X = np.vstack(Ff)
    Y = np.concatenate([np.log(np.maximum(f.y[:, h], 1)) - lastf[:, 0] for h in range(L)])
    sel = np.random.default_rng(0).random(len(X)) < 0.5
    m = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=31, random_state=0).fit(
        X[sel], Y[sel]
    )

    def pred(w):
        F, last = feats(w, range(L))
        return np.column_stack([np.exp(m.predict(Fi) + last[:, 0]) for Fi in F])

    pc, pt = pred(c), pred(t)
    nv = d1(c.y[:, :L], preds["seasonal_naive_24h"][0][calib.zone == z][:, :L])
    nt = d1(t.y[:, :L], preds["seasonal_naive_24h"][1][test.zone == z][:, :L])
    rt = preds["ridge"][1][test.zone == z][:, :L]
    tt = preds["tcn"][1][test.zone == z][:, :L]
    print(
        z,
        f"gbm v{d1(c.y[:, :L], pc) / nv:.3f} t{d1(t.y[:, :L], pt) / nt:.3f}",
        f"gbm+ridge t{d1(t.y[:, :L], (pt + rt) / 2) / nt:.3f}",
        f"gbm+r+t t{d1(t.y[:, :L], (pt + rt + tt) / 3) / nt:.3f}",
        f"{time.time() - t0:.0f}s",
        flush=True,
    )
