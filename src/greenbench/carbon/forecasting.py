"""Forecasters of hourly carbon intensity (seasonal-naive, ridge on lags + calendar, TCN), their convex
stack chosen on validation origins (the ``selected`` forecaster), rolling split-conformal prediction
intervals, and a rolling-origin evaluation (one origin per day)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io, provenance
from greenbench.carbon import metrics
from greenbench.carbon.conformal import (  # noqa: F401 (re-exported: greenbench.carbon.forecasting's names)
    FLOOR,
    _conformal_quantile,
    adapt_rate,
    adaptive_conformal_halfwidths,
    conformal_origins_needed,
    conformal_window,
    interval_bounds,
    relative_errors,
    rolling_conformal_halfwidths,
)
from greenbench.carbon.forecasters.ridge import Ridge, _log_features, ridge_alphas, ridge_names  # noqa: F401
from greenbench.carbon.forecasters.forecaster import FORECASTERS, build_models  # noqa: F401 (the forecaster registry)
from greenbench.carbon.forecasters.seasonal_naive import SeasonalNaive  # noqa: F401
from greenbench.carbon.forecasters.tcn import TCN  # noqa: F401
from greenbench.carbon.forecasters.windows import Windows, _subset, concat, make_windows  # noqa: F401
from greenbench.carbon.stacking import (  # noqa: F401 (re-exported: greenbench.carbon.forecasting's names)
    COMBINATIONS,
    SELECTED,
    STACK_DEFAULTS,
    compose_stacked,
    describe_weights,
    simplex_grid,
    stack_config,
    stack_weights,
    with_combinations,
)
from greenbench.core.log import get_logger

log = get_logger(__name__)


def save_fitted(model, directory: Path) -> None:
    """A fitted forecaster into ``directory`` (its own format: the TCN as weights + config, the others pickled)."""
    model.save(Path(directory))


def load_fitted(directory: str | Path, cfg: Mapping[str, Any]) -> list:
    """The forecasters ``run_forecasting`` fitted, in the order ``build_models`` makes them."""
    return [model.restore(Path(directory)) for model in build_models(cfg)]


def _predictor(model):
    """``predict(windows)``, never below 0 (an intensity is not negative; a TCN's output can be, near
    zero-carbon grids)."""
    return lambda w: np.maximum(model.predict(w), 0.0)


def zone_windows(
    traces: pd.DataFrame, zones, lookback: int, horizon: int, start: str, end: str, stride: int, daily: bool = False
) -> Windows:
    ws = []
    for zone in zones:
        g = traces[traces.zone == zone]
        times = pd.DatetimeIndex(g["timestamp"])
        values = g["ci"].to_numpy(float)
        lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
        candidates = np.flatnonzero((times >= lo) & (times < hi))
        if daily:
            candidates = candidates[times[candidates].hour == 0]
        else:
            candidates = candidates[::stride]
        ws.append(make_windows(values, times, zone, lookback, horizon, candidates))
    return concat(ws)


METRICS_SCHEMA = pa.schema(
    [
        ("zone", pa.string()),
        ("model", pa.string()),
        ("lead_h", pa.int64()),
        ("mape", pa.float64()),
        ("mae", pa.float64()),
        ("coverage", pa.float64()),
        ("nominal_coverage", pa.float64()),
        ("origins", pa.int64()),
        # `selected` only: the forecaster chosen for this zone and lead, and its validation MAPE
        ("choice", pa.string()),
        ("validation_mape", pa.float64()),
    ]
)

SELECTION_FILE = "selection.json"
NAIVE = "seasonal_naive_24h"
FORECASTS_SCHEMA = pa.schema(
    [
        ("zone", pa.string()),
        ("model", pa.string()),
        ("origin", pa.timestamp("s", tz="UTC")),
        ("lead_h", pa.int64()),
        ("forecast", pa.float64()),
        ("low", pa.float64()),
        ("high", pa.float64()),
        ("actual", pa.float64()),
    ]
)


def hourly_window(schedule_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The hours the scheduling simulation routes, and how far ahead it looks (deferral window + 1)."""
    return {
        "start": str(schedule_cfg["start"]),
        "hours": 24 * int(schedule_cfg["days"]),
        "leads": int(schedule_cfg["deferral_window_h"]) + 1,
    }


HOURLY_SCHEMA = pa.schema(
    [
        ("zone", pa.string()),
        ("model", pa.string()),
        ("origin", pa.timestamp("s", tz="UTC")),
        ("lead_h", pa.int64()),
        ("forecast", pa.float64()),
        ("actual", pa.float64()),
    ]
)


def issue_hourly(
    traces_path: str | Path, model_dir: str | Path, cfg: Mapping[str, Any], hourly: Mapping[str, Any], out: str | Path
) -> pd.DataFrame:
    """With the fitted forecasters in ``model_dir``, issue a forecast every hour of the window
    ``hourly`` ({start, hours, leads}) — what a router consults: issued at the hour with the history
    up to it — and write the first ``leads`` lead times of each to ``out``. Its own job, so the
    scheduling window never retrains a forecaster."""
    traces = io.read_parquet(traces_path)
    zones = list(cfg["zones"])
    lookback, horizon = int(cfg["lookback_h"]), int(cfg["horizon_h"])
    lookback_eff = max(lookback, 168)
    h_start = pd.Timestamp(hourly["start"], tz="UTC")
    h_end = h_start + pd.Timedelta(hours=int(hourly["hours"]))
    h_leads = min(int(hourly["leads"]), horizon)
    every_hour = zone_windows(traces, zones, lookback_eff, horizon, str(h_start), str(h_end), 1)
    if len(every_hour.x) != len(zones) * int(hourly["hours"]):
        raise ValueError(
            f"the traces do not cover {h_start}..{h_end} plus the forecast horizon (carbon.schedule.start/days)"
        )
    selection = load_selection(model_dir, zones)
    predictions = with_combinations(
        {model.name: _predictor(model)(every_hour)[:, :h_leads] for model in load_fitted(model_dir, cfg)}
    )
    predictions[SELECTED] = compose_stacked(predictions, every_hour.zone, selection)
    frames = []
    for name, hp in predictions.items():
        frames.append(
            pd.DataFrame(
                {
                    "zone": np.repeat(every_hour.zone, h_leads),
                    "model": name,
                    "origin": np.repeat(every_hour.origin, h_leads),
                    "lead_h": np.tile(np.arange(1, h_leads + 1), len(hp)),
                    "forecast": hp.ravel(),
                    "actual": every_hour.y[:, :h_leads].ravel(),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    io.write_parquet(
        table,
        out,
        HOURLY_SCHEMA,
        {"window": [str(h_start), str(h_end)], "issued": "every hour, with the history up to it"},
    )
    return table


def load_selection(model_dir: str | Path, zones) -> dict[str, dict[str, Any]]:
    path = Path(model_dir) / SELECTION_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: rerun the forecasting stage (forecast_carbon)")
    selection = json.loads(path.read_text()).get("weights")
    if selection is None:
        raise ValueError(f"{path} holds no stacking weights (written by an older greenbench): rerun forecast_carbon")
    missing = sorted(set(zones) - set(selection))
    if missing:
        raise ValueError(f"{path}: no forecaster chosen for {', '.join(missing)}: rerun forecast_carbon")
    return selection


def run_forecasting(
    traces_path: str | Path,
    cfg: Mapping[str, Any],
    seed: int,
    metrics_out: str | Path,
    forecasts_out: str | Path,
    model_dir: str | Path,
) -> pd.DataFrame:
    """Train on the train period (last ``calibration_days`` held out for conformal intervals),
    evaluate with daily rolling origins over the test period; the fitted forecasters go to
    ``model_dir`` (``issue_hourly`` uses them)."""
    traces = io.read_parquet(traces_path)
    zones = list(cfg["zones"])
    lookback, horizon = int(cfg["lookback_h"]), int(cfg["horizon_h"])
    lookback_eff = max(lookback, 168)  # seasonal-naive 168 h needs a week of history
    train_end = pd.Timestamp(cfg["train_end"], tz="UTC")
    calib_start = train_end - pd.Timedelta(days=int(cfg["calibration_days"]))
    fit = zone_windows(
        traces, zones, lookback_eff, horizon, cfg["train_start"], str(calib_start), int(cfg["train_stride_h"])
    )
    calib = zone_windows(traces, zones, lookback_eff, horizon, str(calib_start), str(train_end), 1, daily=True)
    test = zone_windows(traces, zones, lookback_eff, horizon, cfg["test_start"], cfg["test_end"], 1, daily=True)
    stack = stack_config(cfg)
    if len(test.x) == 0:
        raise ValueError("no test origins: check carbon.forecast.test_start/test_end against the traces")
    level = float(cfg["interval_level"])
    metric_rows, forecast_frames = [], []
    calib_preds, test_preds = {}, {}

    def evaluate(name: str, calib_pred: np.ndarray, pred: np.ndarray, choice=None, validation=None) -> None:
        low, high = np.empty_like(pred), np.empty_like(pred)
        for zone in zones:  # per-zone, per-lead rolling conformal half-widths
            c, sel = calib.zone == zone, test.zone == zone
            half = adaptive_conformal_halfwidths(
                np.concatenate([calib.origin[c], test.origin[sel]]),
                relative_errors(np.vstack([calib.y[c], test.y[sel]]), np.vstack([calib_pred[c], pred[sel]])),
                test.origin[sel],
                horizon,
                level,
                window=conformal_window(cfg),
                gamma=adapt_rate(cfg),
            )
            low[sel], high[sel] = interval_bounds(pred[sel], half)
        for zone in zones:
            sel = test.zone == zone
            a, f, lo, hi = test.y[sel], pred[sel], low[sel], high[sel]
            for lead, (m1, m2, cov) in enumerate(
                zip(metrics.mape(a, f), metrics.mae(a, f), metrics.coverage(a, lo, hi)), start=1
            ):
                metric_rows.append(
                    {
                        "zone": zone,
                        "model": name,
                        "lead_h": lead,
                        "mape": m1,
                        "mae": m2,
                        "coverage": cov,
                        "nominal_coverage": 100 * level,
                        "origins": int(sel.sum()),
                        "choice": choice[zone][lead - 1] if choice else None,
                        "validation_mape": float(validation[zone][lead - 1]) if validation else None,
                    }
                )
            n = int(sel.sum())
            forecast_frames.append(
                pd.DataFrame(
                    {
                        "zone": zone,
                        "model": name,
                        "origin": np.repeat(test.origin[sel], horizon),
                        "lead_h": np.tile(np.arange(1, horizon + 1), n),
                        "forecast": f.ravel(),
                        "low": lo.ravel(),
                        "high": hi.ravel(),
                        "actual": a.ravel(),
                    }
                )
            )
        log.info(
            "%s: day-1 MAPE %s",
            name,
            {z: round(metrics.day1(metrics.mape(test.y[test.zone == z], pred[test.zone == z])), 2) for z in zones},
        )

    with io.atomic_directory(model_dir) as tmp:
        refit_windows = None
        for model in build_models(cfg):
            predict = _predictor(model)
            model.fit(fit, seed)  # a model that needs less history takes the end of each window
            calib_preds[model.name] = predict(calib)  # out of sample: the validation origins were not fitted on
            if model.refit_on_validation and stack["refit"]:
                # refit on train + validation before the test: the months just before it (seconds for a ridge)
                if refit_windows is None:
                    refit_windows = zone_windows(
                        traces,
                        zones,
                        lookback_eff,
                        horizon,
                        cfg["train_start"],
                        str(train_end),
                        int(cfg["train_stride_h"]),
                    )
                model.fit(refit_windows, seed)
            save_fitted(model, tmp)
            test_preds[model.name] = predict(test)
            evaluate(model.name, calib_preds[model.name], test_preds[model.name])
        base = list(calib_preds)
        calib_preds, test_preds = with_combinations(calib_preds), with_combinations(test_preds)
        for name in COMBINATIONS:
            if name in test_preds:
                evaluate(name, calib_preds[name], test_preds[name])
        # the selected forecaster: per zone and block of lead times, the convex combination of the base
        # models with the lowest MAPE on the validation (calibration) origins, which precede the test
        weights = {}
        for z in zones:
            c = calib.zone == z
            table = stack_weights(
                {n: calib_preds[n][c] for n in base}, calib.y[c], stack["block_h"], stack["weight_grid"]
            )
            weights[z] = {"models": base, "weights": table.round(6).tolist()}
        stacked_calib = compose_stacked(calib_preds, calib.zone, weights)
        choice = {z: [describe_weights(base, row) for row in weights[z]["weights"]] for z in zones}
        evaluate(
            SELECTED,
            stacked_calib,
            compose_stacked(test_preds, test.zone, weights),
            choice,
            {z: metrics.mape(calib.y[calib.zone == z], stacked_calib[calib.zone == z]) for z in zones},
        )
        io.write_json(
            {
                "weights": weights,
                "choice": choice,
                "validation": [str(calib_start), str(train_end)],
                "rule": f"convex stacking per zone and {stack['block_h']} h block of lead times, weights in steps "
                f"of 1/{stack['weight_grid']}, lowest validation MAPE"
                + ("; ridge refit on train + validation before the test" if stack["refit"] else ""),
            },
            tmp / SELECTION_FILE,
        )
        io.write_json({"config": dict(cfg), "seed": seed, "provenance": provenance.collect()}, tmp / "forecasting.json")
    table = pd.DataFrame(metric_rows, columns=METRICS_SCHEMA.names)
    for zone, ratio in day1_vs_naive(table, SELECTED).items():
        if ratio > 1.0:  # the validation choice did not carry over to the test period: say so
            log.warning(
                "%s: the selected forecaster's day-1 MAPE is %.2fx seasonal-naive-24h's on the test period "
                "(worse than 'same hour yesterday')",
                zone,
                ratio,
            )
    meta = {
        "train": [cfg["train_start"], str(calib_start)],
        "calibration": [str(calib_start), str(train_end)],
        "test": [cfg["test_start"], cfg["test_end"]],
        "interval": "rolling split conformal on relative errors, per zone and lead time: each origin uses "
        f"the {conformal_window(cfg)} most recent origins whose errors were observable by then"
        + (
            f", its level adapted to the misses observed so far (ACI, gamma {adapt_rate(cfg)})"
            if adapt_rate(cfg)
            else ""
        ),
    }
    io.write_parquet(table, metrics_out, METRICS_SCHEMA, meta)
    io.write_parquet(pd.concat(forecast_frames, ignore_index=True), forecasts_out, FORECASTS_SCHEMA, meta)
    return table


def day1_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Day-1 MAPE (mean over lead 1-24 h), MAE and coverage per zone and model."""
    d = table[table.lead_h <= 24]
    return d.groupby(["zone", "model"], sort=True)[["mape", "mae", "coverage"]].mean().reset_index()


def day1_vs_naive(table: pd.DataFrame, model: str) -> dict[str, float]:
    """Per zone, ``model``'s day-1 MAPE divided by seasonal-naive-24h's (below 1: better than yesterday)."""
    d = day1_summary(table).pivot(index="zone", columns="model", values="mape")
    if model not in d or NAIVE not in d:
        return {}
    return {str(z): float(r) for z, r in (d[model] / d[NAIVE]).items()}


def skill_by_lead(table: pd.DataFrame) -> pd.DataFrame:
    """Skill 1 - MAPE / MAPE(seasonal-naive-24h) per zone, model and lead (0: as good as yesterday)."""
    naive = table[table.model == NAIVE].set_index(["zone", "lead_h"])["mape"]
    out = table[table.model != NAIVE][["zone", "model", "lead_h", "mape"]].copy()
    out["skill"] = (
        1.0 - out["mape"].to_numpy() / naive.reindex(pd.MultiIndex.from_frame(out[["zone", "lead_h"]])).to_numpy()
    )
    return out.reset_index(drop=True)
