"""How far can history-only forecasters get below seasonal-naive-24h on day-1 MAPE?

Ablation over linear forecasters (fast, closed form) on the default protocol (train 2021 up to the
calibration cut, daily origins over 2022), plus the TCN's forecasts from a finished run, and the MAPE
by lead time that explains the ceiling: beyond ~12 h every history-only model is about as wrong as
yesterday's value, so the day-1 mean cannot fall much below ~0.6 of naive-24h without exogenous
(weather) forecasts.

    python experiments/2026-11-22-forecast-ablation/forecast_ablation.py [RUN_DIR] > benchmarks/results/<dir>/ablation.md

RUN_DIR holds results/carbon/{traces,forecasts}.parquet from `greenbench carbon` (default: .).
Cross-zone features read the 10 European zones' CSVs from $GREENBENCH_DATA/carbon.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from greenbench.core import io
from greenbench.carbon import forecasting as F
from greenbench.carbon import metrics as M
from greenbench.carbon import traces as T

ZONES = ["DE", "GB", "FR", "ES", "PL"]
EUROPE = ["BE", "CH", "DE", "ES", "FI", "FR", "GB", "IT-NO", "NL", "PL"]
LOOKBACK, HORIZON = 168, 96
TRAIN, CALIB, TEST_END = "2021-01-01", "2021-10-03", "2022-12-28"


def ridge(X: np.ndarray, Y: np.ndarray, alpha: float) -> np.ndarray:
    return np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ Y)


def linear_forecast(
    logs: np.ndarray, times: pd.DatetimeIndex, zone: int, cross_h: int, alpha: float, refit_days: int
) -> np.ndarray:
    """Per-zone ridge on origins at 00:00 UTC in log space (own 168 h relative to the last hour,
    day of week, optionally every European zone's last ``cross_h`` hours relative to its weekly mean);
    ``refit_days`` > 0 refits on every origin observed so far (an expanding window)."""

    def design(origins):
        own = logs[origins[:, None] + np.arange(-LOOKBACK, 0), zone]
        last = own[:, -1:]
        parts = [own - last, np.eye(7)[times[origins].day_of_week], np.ones((len(origins), 1))]
        if cross_h:
            week = np.stack([logs[o - 168 : o].mean(axis=0) for o in origins])
            parts.append(
                np.concatenate([logs[o - cross_h : o] - w for o, w in zip(origins, week)]).reshape(len(origins), -1)
            )
        y = logs[origins[:, None] + np.arange(HORIZON), zone] - last
        return np.hstack(parts), y, last

    midnight = np.flatnonzero(times.hour == 0)
    train = midnight[
        (midnight >= LOOKBACK)
        & (times[midnight] < pd.Timestamp(CALIB, tz="UTC"))
        & (midnight + HORIZON <= np.searchsorted(times, pd.Timestamp(CALIB, tz="UTC")))
    ]
    test = midnight[
        (times[midnight] >= pd.Timestamp("2022-01-01", tz="UTC")) & (times[midnight] < pd.Timestamp(TEST_END, tz="UTC"))
    ]
    out, W = [], None
    for k, origin in enumerate(test):
        if W is None or (refit_days and k % refit_days == 0):
            seen = midnight[(midnight >= LOOKBACK) & (midnight + HORIZON <= origin)] if refit_days else train
            X, y, _ = design(seen)
            W = ridge(X, y, alpha)
        X, _, last = design(np.array([origin]))
        out.append(np.exp(X @ W + last)[0])
    return np.array(out)


def main(run_dir: Path) -> None:
    traces = io.read_parquet(run_dir / "results/carbon/traces.parquet")
    test = F.zone_windows(traces, ZONES, LOOKBACK, HORIZON, "2022-01-01", TEST_END, 1, daily=True)
    fit = F.zone_windows(traces, ZONES, LOOKBACK, HORIZON, TRAIN, CALIB, 1)
    naive = F.SeasonalNaive(24).predict(test)
    data = Path(os.environ.get("GREENBENCH_DATA", "../shared/data")) / "carbon" / "electricitymaps_eco4cast"
    wide = pd.concat([T.read_trace(data / T.em_filename(z, y)) for z in EUROPE for y in (2021, 2022)]).pivot(
        index="timestamp", columns="zone", values="ci"
    )[EUROPE]
    logs, times = np.log(np.maximum(wide.to_numpy(float), 1.0)), pd.DatetimeIndex(wide.index)

    forecasts = io.read_parquet(run_dir / "results/carbon/forecasts.parquet")
    tcn = forecasts[forecasts.model == "tcn"].pivot_table(index=["zone", "origin"], columns="lead_h", values="forecast")
    tcn_pred = np.vstack([tcn.loc[z].to_numpy() for z in ZONES])

    def linear(cross_h, alpha, refit):
        return np.vstack([linear_forecast(logs, times, EUROPE.index(z), cross_h, alpha, refit) for z in ZONES])

    rows = {
        "ridge, pooled zones, scaled (before this change)": _pooled_scaled(fit, test),
        "ridge, per zone and origin hour, log (library `ridge`)": F.Ridge(30.0).fit(fit).predict(test),
        "TCN (library, run's forecasts)": tcn_pred,
    }
    rows["per-zone log ridge + 10 zones' last 24 h"] = linear(24, 100.0, 0)
    rows["per-zone log ridge, weekly expanding refit"] = refit = linear(0, 30.0, 7)
    rows["... + 10 zones' last 24 h, weekly refit"] = cross = linear(24, 100.0, 7)
    rows["mean of TCN and both refit ridges"] = (tcn_pred + refit + cross) / 3

    print("| forecaster | " + " | ".join(ZONES) + " | worst |\n|---|" + "---|" * (len(ZONES) + 1))
    for name, pred in rows.items():
        ratios = [_day1(test, pred, z) / _day1(test, naive, z) for z in ZONES]
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + f" | {max(ratios):.3f} |")
    print(
        "\nDay-1 MAPE / seasonal-naive-24h day-1 MAPE (target ≤ 0.6). MAPE ratio to naive-24h by lead time "
        "(TCN; 1.0 = no better than yesterday's value):\n"
    )
    leads = [1, 3, 6, 12, 18, 24]
    print("| zone | " + " | ".join(f"lead {h}" for h in leads) + " |\n|---|" + "---|" * len(leads))
    for z in ZONES:
        s = test.zone == z
        r = M.mape(test.y[s], tcn_pred[s]) / M.mape(test.y[s], naive[s])
        print(f"| {z} | " + " | ".join(f"{r[h - 1]:.2f}" for h in leads) + " |")


def _pooled_scaled(fit: F.Windows, test: F.Windows, alpha: float = 1.0) -> np.ndarray:
    """The pooled ridge on window-mean-scaled lags and origin calendar that `ridge` used to be."""

    def design(w):
        scale = w.x.mean(axis=1, keepdims=True) + 1e-6
        return np.hstack([w.x / scale, np.eye(24)[w.hour], np.eye(7)[w.dow], np.ones((len(w.x), 1))]), scale

    X, scale = design(fit)
    W = ridge(X, fit.y / scale, alpha)
    Xt, scale_t = design(test)
    return Xt @ W * scale_t


def _day1(test: F.Windows, pred: np.ndarray, zone: str) -> float:
    s = test.zone == zone
    return M.day1(M.mape(test.y[s], pred[s]))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
