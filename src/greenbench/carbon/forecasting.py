"""Forecasters of hourly carbon intensity (seasonal-naive, ridge on lags + calendar, TCN), their convex
stack chosen on validation origins (the ``selected`` forecaster), rolling split-conformal prediction
intervals, and a rolling-origin evaluation (one origin per day)."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io, provenance
from greenbench.carbon import metrics
from greenbench.core.log import get_logger

log = get_logger(__name__)


@dataclass
class Windows:
    """Supervised windows: x (n, lookback) history, y (n, horizon) future, calendar of the origin."""

    x: np.ndarray
    y: np.ndarray
    hour: np.ndarray       # origin hour of day (0-23)
    dow: np.ndarray        # origin day of week
    zone: np.ndarray
    origin: np.ndarray     # origin timestamps (first forecast hour)


def make_windows(values: np.ndarray, times: pd.DatetimeIndex, zone: str, lookback: int, horizon: int,
                 origins: np.ndarray) -> Windows:
    """Windows whose first forecast hour is at each index in ``origins``."""
    origins = np.asarray([o for o in origins if o - lookback >= 0 and o + horizon <= len(values)], dtype=int)
    idx_x = origins[:, None] + np.arange(-lookback, 0)[None, :]
    idx_y = origins[:, None] + np.arange(horizon)[None, :]
    t = times[origins]
    return Windows(values[idx_x], values[idx_y], np.asarray(t.hour), np.asarray(t.day_of_week),
                   np.full(len(origins), zone), np.asarray(t))


def concat(ws: list[Windows]) -> Windows:
    return Windows(*(np.concatenate([getattr(w, f) for w in ws]) for f in Windows.__dataclass_fields__))


class SeasonalNaive:
    """y[t+h] = y[t+h - k*period] for the smallest k that reaches into the history."""

    def __init__(self, period: int):
        self.period = period
        self.name = f"seasonal_naive_{period}h"

    def fit(self, train: Windows, seed: int = 0) -> "SeasonalNaive":
        if train.x.shape[1] < self.period:
            raise ValueError(f"{self.name} needs a lookback of at least {self.period} h")
        return self

    def predict(self, w: Windows) -> np.ndarray:
        horizon = w.y.shape[1]
        lookback = w.x.shape[1]
        h = np.arange(horizon)
        k = h // self.period + 1
        return w.x[:, lookback + h - k * self.period]


def _log_features(w: Windows, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Log intensities of the last ``lags`` hours relative to the last one, day-of-week, intercept;
    and the last log intensity (the level the targets are relative to)."""
    logs = np.log(np.maximum(w.x[:, -lags:], 1.0))
    last = logs[:, -1:]
    return np.hstack([logs - last, np.eye(7)[w.dow], np.ones((len(w.x), 1))]), last


class Ridge:
    """Direct multi-output ridge regression in log space, one model per zone and origin hour: the
    targets are log(y / last value), so the squared loss tracks relative (MAPE-like) error and each
    zone keeps its own daily shape. Falls back to the zone's all-hours model for an hour it never saw."""

    name = "ridge"

    def __init__(self, alpha: float = 1.0, lags: int = 168, name: str = "ridge"):
        self.alpha, self.lags, self.name = alpha, lags, name

    def _solve(self, w: Windows, sel: np.ndarray) -> np.ndarray:
        X, last = _log_features(_subset(w, sel), self.lags)
        Y = np.log(np.maximum(w.y[sel], 1.0)) - last
        return np.linalg.solve(X.T @ X + self.alpha * np.eye(X.shape[1]), X.T @ Y)

    def fit(self, train: Windows, seed: int = 0) -> "Ridge":
        self.lags = min(self.lags, train.x.shape[1])
        self.W = {}
        for zone in np.unique(train.zone):
            in_zone = train.zone == zone
            self.W[(zone, None)] = self._solve(train, in_zone)
            for hour in np.unique(train.hour[in_zone]):
                self.W[(zone, int(hour))] = self._solve(train, in_zone & (train.hour == hour))
        return self

    def predict(self, w: Windows) -> np.ndarray:
        X, last = _log_features(w, self.lags)
        out = np.empty(w.y.shape)
        for key in {(z, int(h)) for z, h in zip(w.zone, w.hour)}:
            if (key[0], None) not in self.W:
                raise ValueError(f"ridge was not trained on zone {key[0]}")
            sel = (w.zone == key[0]) & (w.hour == key[1])
            out[sel] = np.exp(X[sel] @ self.W.get(key, self.W[(key[0], None)]) + last[sel])
        return out


def _subset(w: Windows, sel: np.ndarray) -> Windows:
    return Windows(*(getattr(w, f)[sel] for f in Windows.__dataclass_fields__))


class TCN:
    """Causal dilated 1-D convolutions over the (scaled) history plus origin calendar, direct
    multi-horizon output. Trained seeded with AdamW on MAE."""

    name = "tcn"

    def __init__(self, lookback: int, horizon: int, channels: int = 32, levels: int = 5, kernel: int = 3,
                 epochs: int = 10, batch_size: int = 256, learning_rate: float = 2e-3, max_train_windows: int = 0):
        self.cfg = dict(lookback=lookback, horizon=horizon, channels=channels, levels=levels, kernel=kernel,
                        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                        max_train_windows=max_train_windows)
        self.net = None

    def _build(self):
        import torch
        from torch import nn

        c = self.cfg

        class CausalBlock(nn.Module):
            def __init__(self, cin, cout, dilation):
                super().__init__()
                self.pad = (c["kernel"] - 1) * dilation
                self.conv1 = nn.Conv1d(cin, cout, c["kernel"], dilation=dilation)
                self.conv2 = nn.Conv1d(cout, cout, c["kernel"], dilation=dilation)
                self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
                self.act = nn.GELU()

            def forward(self, x):
                h = self.act(self.conv1(nn.functional.pad(x, (self.pad, 0))))
                h = self.act(self.conv2(nn.functional.pad(h, (self.pad, 0))))
                return self.act(h + self.skip(x))

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                layers, cin = [], 1
                for i in range(c["levels"]):
                    layers.append(CausalBlock(cin, c["channels"], 2 ** i))
                    cin = c["channels"]
                self.tcn = nn.Sequential(*layers)
                self.head = nn.Sequential(nn.Linear(c["channels"] * 2 + 31, 256), nn.GELU(),
                                          nn.Linear(256, c["horizon"]))

            def forward(self, x, cal):
                h = self.tcn(x.unsqueeze(1))
                summary = torch.cat([h[:, :, -1], h.mean(dim=2), cal], dim=1)
                return self.head(summary)

        return Net()

    def _tensors(self, w: Windows):
        import torch

        scale = w.x.mean(axis=1, keepdims=True) + 1e-6
        x = torch.as_tensor(w.x / scale - 1.0, dtype=torch.float32)
        cal = torch.as_tensor(np.hstack([np.eye(24)[w.hour], np.eye(7)[w.dow]]), dtype=torch.float32)
        return x, cal, scale

    def fit(self, train: Windows, seed: int = 0) -> "TCN":
        import torch
        from tqdm.auto import tqdm

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        if self.cfg["max_train_windows"] and len(train.x) > self.cfg["max_train_windows"]:
            keep = np.sort(rng.choice(len(train.x), self.cfg["max_train_windows"], replace=False))
            train = _subset(train, keep)
        self.net = self._build()
        x, cal, scale = self._tensors(train)
        y = torch.as_tensor(train.y / scale - 1.0, dtype=torch.float32)
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.cfg["learning_rate"], weight_decay=1e-4)
        steps = self.cfg["epochs"] * int(np.ceil(len(x) / self.cfg["batch_size"]))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.cfg["learning_rate"], total_steps=max(steps, 1))
        self.history = []
        self.net.train()
        with tqdm(total=steps, desc="train tcn", unit="step", mininterval=5) as bar:
            for epoch in range(self.cfg["epochs"]):
                perm = torch.as_tensor(rng.permutation(len(x)))
                losses = []
                for start in range(0, len(x), self.cfg["batch_size"]):
                    b = perm[start:start + self.cfg["batch_size"]]
                    loss = torch.nn.functional.l1_loss(self.net(x[b], cal[b]), y[b])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    bar.update(1)
                self.history.append({"epoch": epoch, "train_mae_scaled": float(np.mean(losses))})
                bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        self.net.eval()
        return self

    def predict(self, w: Windows) -> np.ndarray:
        import torch

        x, cal, scale = self._tensors(w)
        with torch.inference_mode():
            out = torch.cat([self.net(x[i:i + 4096], cal[i:i + 4096]) for i in range(0, len(x), 4096)]).numpy()
        return (out + 1.0) * scale

    def save(self, directory: Path) -> None:
        import torch

        torch.save(self.net.state_dict(), directory / "tcn.pt")
        (directory / "tcn.json").write_text(json.dumps({"config": self.cfg, "history": self.history}, indent=2))

    @classmethod
    def load(cls, directory: Path) -> "TCN":
        import torch

        meta = json.loads((Path(directory) / "tcn.json").read_text())
        model = cls(**meta["config"])
        model.net = model._build()
        model.net.load_state_dict(torch.load(Path(directory) / "tcn.pt", map_location="cpu", weights_only=True))
        model.net.eval()
        model.history = meta["history"]
        return model


def save_fitted(model, directory: Path) -> None:
    """A fitted forecaster into ``directory`` (the TCN as weights + config, the others pickled)."""
    if isinstance(model, TCN):
        model.save(directory)
    else:
        with open(Path(directory) / f"{model.name}.pkl", "wb") as handle:
            pickle.dump(model, handle)


def load_fitted(directory: str | Path, cfg: Mapping[str, Any]) -> list:
    """The forecasters ``run_forecasting`` fitted, in the order ``build_models`` makes them."""
    directory = Path(directory)
    out = []
    for model in build_models(cfg):
        if isinstance(model, TCN):
            out.append(TCN.load(directory))
            continue
        path = directory / f"{model.name}.pkl"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: rerun the forecasting stage (forecast_carbon)")
        with open(path, "rb") as handle:
            out.append(pickle.load(handle))
    return out


def _predictor(model, lookback: int):
    """``predict(windows)``, never below 0 (an intensity is not negative; a TCN's output can be, near
    zero-carbon grids); the TCN sees the last ``lookback`` hours only."""
    if isinstance(model, TCN):
        return lambda w: np.maximum(model.predict(Windows(w.x[:, -lookback:], w.y, w.hour, w.dow, w.zone, w.origin)), 0.0)
    return lambda w: np.maximum(model.predict(w), 0.0)


FLOOR = 1e-6  # the scale of a relative error around a zero forecast


def relative_errors(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    return np.abs(actual - forecast) / np.maximum(np.abs(forecast), FLOOR)


def interval_bounds(forecast: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval whose relative half-width is ``half``: exactly the values whose
    :func:`relative_errors` is at most ``half`` (so a conformal rule's misses are the interval's
    misses), its lower end stopped at 0. An unbounded ``half`` (ACI) gives ``[0, inf]``."""
    scale = np.maximum(np.abs(forecast), FLOOR)
    with np.errstate(invalid="ignore"):
        return np.maximum(forecast - half * scale, 0.0), forecast + half * scale


def _conformal_quantile(rel: np.ndarray, level: float) -> np.ndarray:
    """Per-lead split-conformal half-widths of relative errors (the finite-sample quantile)."""
    n = rel.shape[0]
    q = min(1.0, np.ceil((n + 1) * level) / n)
    return np.quantile(rel, q, axis=0, method="higher")


def conformal_origins_needed(level: float) -> int:
    """Calibration scores a rolling interval asks for: ``ceil(1 / (1 - level))`` (10 for 0.9, computed
    rounding-safe), so the finite-sample rank ``ceil((n + 1) level)`` stays within the n scores."""
    return int(math.ceil(1 / (1 - level) - 1e-9))


def rolling_conformal_halfwidths(pool_origins: np.ndarray, pool_rel: np.ndarray, origins: np.ndarray, horizon: int,
                                 level: float, window: int) -> np.ndarray:
    """Half-widths (origins, horizon) for each forecast origin from the relative errors of the
    ``window`` most recent earlier origins whose whole horizon had been observed by then.

    ``pool_*`` hold every origin with known errors (calibration and test, any order). Only errors
    that were observable at the forecast origin are used, so the interval is a real-time one that
    follows drift in the error distribution (a fixed calibration year over-covers when the next
    year's errors are smaller)."""
    def ns(t):
        return pd.DatetimeIndex(t).as_unit("ns").asi8

    start = ns(pool_origins)
    order = np.argsort(start, kind="stable")
    known_at, pool_rel = start[order] + horizon * 3_600_000_000_000, pool_rel[order]
    out = np.empty((len(origins), pool_rel.shape[1]))
    for i, (origin, stamp) in enumerate(zip(ns(origins), pd.DatetimeIndex(origins))):
        known = np.flatnonzero(known_at <= origin)[-window:]
        if len(known) < conformal_origins_needed(level):
            raise ValueError(f"too few calibration origins before {stamp} for a {level:.0%} interval "
                             f"({len(known)}): lengthen carbon.forecast.calibration_days (or conformal_window_days)")
        out[i] = _conformal_quantile(pool_rel[known], level)
    return out


def adaptive_conformal_halfwidths(pool_origins: np.ndarray, pool_rel: np.ndarray, origins: np.ndarray, horizon: int,
                                  level: float, window: int, gamma: float) -> np.ndarray:
    """Rolling conformal half-widths whose miscoverage level adapts to the errors seen so far:
    adaptive conformal inference (ACI; I. Gibbs and E. Candes 2021, "Adaptive conformal inference
    under distribution shift", NeurIPS 34), per lead time.

    Each origin ``t`` (in time order) takes the quantile ``1 - alpha_t`` of the same rolling pool as
    :func:`rolling_conformal_halfwidths`, with ``alpha_t = alpha + gamma * sum_j (alpha - miss_j)``
    over the earlier origins ``j`` whose value at that lead had been observed by ``t`` (``miss_j`` = 1
    when it fell outside its interval). A stretch of misses widens the next intervals and a stretch of
    hits narrows them, so the long-run coverage holds even when the error distribution shifts (a stuck
    feed whose zero errors collapse the rolling quantile, then a jump); ``gamma = 0`` is the plain
    rolling interval. A level the pool cannot resolve (``(n + 1)(1 - alpha_t) > n``) gives an
    unbounded interval, as in ACI, which is what keeps its guarantee; ``alpha_t`` is kept within
    ``[-gamma, 1 + gamma]`` (ACI's own range without delay) so that delayed feedback cannot wind it up."""
    base = rolling_conformal_halfwidths(pool_origins, pool_rel, origins, horizon, level, window)
    if gamma <= 0:
        return base

    def ns(t):
        return pd.DatetimeIndex(t).as_unit("ns").asi8

    start = ns(pool_origins)
    order = np.argsort(start, kind="stable")
    start, rel_sorted = start[order], pool_rel[order]
    known_at = start + horizon * 3_600_000_000_000
    lead_ns = np.arange(1, pool_rel.shape[1] + 1) * 3_600_000_000_000
    targets = ns(origins)
    rel_of = {int(t): pool_rel[i] for i, t in enumerate(ns(pool_origins))}
    alpha = 1.0 - level
    out = np.empty((len(origins), pool_rel.shape[1]))
    seen_t, seen_miss = [], []          # earlier target origins and their misses (per lead)
    for i in np.argsort(targets, kind="stable"):
        t = targets[i]
        if seen_t:
            observed = (np.asarray(seen_t)[:, None] + lead_ns[None, :]) <= t          # (earlier, leads)
            a_t = alpha + gamma * np.sum(np.where(observed, alpha - np.asarray(seen_miss), 0.0), axis=0)
        else:
            a_t = np.full(pool_rel.shape[1], alpha)
        a_t = np.clip(a_t, -gamma, 1.0 + gamma)
        known = np.flatnonzero(known_at <= t)[-window:]
        pool = np.sort(rel_sorted[known], axis=0)                                        # (n, leads)
        n = pool.shape[0]
        rank = np.ceil((n + 1) * (1.0 - a_t)).astype(int)                              # finite-sample rank
        out[i] = np.where(rank > n, np.inf, pool[np.clip(rank, 1, n) - 1, np.arange(pool.shape[1])])
        seen_t.append(t)
        seen_miss.append((rel_of[int(t)] > out[i]).astype(float))
    return out


def zone_windows(traces: pd.DataFrame, zones, lookback: int, horizon: int, start: str, end: str, stride: int,
                 daily: bool = False) -> Windows:
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


METRICS_SCHEMA = pa.schema([("zone", pa.string()), ("model", pa.string()), ("lead_h", pa.int64()), ("mape", pa.float64()),
                            ("mae", pa.float64()), ("coverage", pa.float64()), ("nominal_coverage", pa.float64()),
                            ("origins", pa.int64()),
                            # `selected` only: the forecaster chosen for this zone and lead, and its validation MAPE
                            ("choice", pa.string()), ("validation_mape", pa.float64())])
SELECTED = "selected"   # per zone and block of leads, the convex stack with the lowest validation MAPE
# Forecast combinations, candidates for the selection like any model: the mean of forecasters whose
# errors are only partly correlated is often better than either (Bates and Granger 1969).
COMBINATIONS = {"ridge+tcn": ("ridge", "tcn")}


def with_combinations(predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``predictions`` plus every combination in :data:`COMBINATIONS` whose members are all there
    (the mean of the members' forecasts)."""
    out = dict(predictions)
    for name, members in COMBINATIONS.items():
        if all(m in predictions for m in members):
            out[name] = np.mean([predictions[m] for m in members], axis=0)
    return out

SELECTION_FILE = "selection.json"
NAIVE = "seasonal_naive_24h"
FORECASTS_SCHEMA = pa.schema([("zone", pa.string()), ("model", pa.string()), ("origin", pa.timestamp("s", tz="UTC")),
                              ("lead_h", pa.int64()), ("forecast", pa.float64()), ("low", pa.float64()),
                              ("high", pa.float64()), ("actual", pa.float64())])

def hourly_window(schedule_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The hours the scheduling simulation routes, and how far ahead it looks (deferral window + 1)."""
    return {"start": str(schedule_cfg["start"]), "hours": 24 * int(schedule_cfg["days"]),
            "leads": int(schedule_cfg["deferral_window_h"]) + 1}


HOURLY_SCHEMA = pa.schema([("zone", pa.string()), ("model", pa.string()), ("origin", pa.timestamp("s", tz="UTC")),
                           ("lead_h", pa.int64()), ("forecast", pa.float64()), ("actual", pa.float64())])


def ridge_alphas(cfg: Mapping[str, Any]) -> list[float]:
    """``ridge_alpha``: one penalty, or a list (one ridge forecaster per penalty, all stacking candidates)."""
    alpha = cfg["ridge_alpha"]
    return [float(a) for a in (alpha if isinstance(alpha, (list, tuple)) else [alpha])]


def ridge_names(alphas: list[float]) -> list[str]:
    """The ridge candidates' names: the first penalty's is ``ridge``, the others ``ridge_a<alpha>``."""
    return ["ridge" if i == 0 else f"ridge_a{a:g}" for i, a in enumerate(alphas)]


def build_models(cfg: Mapping[str, Any]) -> list:
    """The candidate forecasters: seasonal-naive 24 h and 168 h, one ridge per ``ridge_alpha`` (the first
    is ``ridge``, the others ``ridge_a<alpha>``), the TCN."""
    t = cfg["tcn"]
    alphas = ridge_alphas(cfg)
    ridges = [Ridge(alpha=a, name=n) for a, n in zip(alphas, ridge_names(alphas))]
    return [SeasonalNaive(24), SeasonalNaive(168), *ridges,
            TCN(cfg["lookback_h"], cfg["horizon_h"], t["channels"], t["levels"], t["kernel"], t["epochs"],
                t["batch_size"], t["learning_rate"], t["max_train_windows"])]


def simplex_grid(models: int, steps: int) -> np.ndarray:
    """Every weight vector over ``models`` candidates whose weights are multiples of 1/``steps`` and sum
    to 1 (one row each; the single models, the vertices, first)."""
    rows = []

    def fill(prefix: list[int], left: int) -> None:
        if len(prefix) == models - 1:
            rows.append(prefix + [left])
            return
        for k in range(left, -1, -1):
            fill(prefix + [k], left - k)

    fill([], steps)
    grid = np.asarray(rows, float) / steps
    vertex = (grid == 1.0).any(axis=1)
    return np.vstack([grid[vertex], grid[~vertex]])


def stack_weights(validation: Mapping[str, np.ndarray], actual: np.ndarray, block_h: int, steps: int,
                  chunk: int = 2048) -> np.ndarray:
    """Convex stacking: for each block of ``block_h`` consecutive lead times, the weights on the
    simplex grid (:func:`simplex_grid`) whose combined forecast has the lowest MAPE on the validation
    origins (``validation``: {model: (origins, leads)}, ``actual`` the same shape). Returns (leads,
    models) weights in ``validation``'s model order; ties go to the earlier grid row (a single model).
    Choosing one model per block is the special case of a vertex, so on the validation origins the
    stack is never worse than the best single model (Breiman 1996; Wolpert 1992)."""
    names = list(validation)
    preds = np.stack([np.asarray(validation[n], float) for n in names], -1)  # origins x leads x models
    y = np.asarray(actual, float)
    grid = simplex_grid(len(names), steps)
    leads = y.shape[1]
    out = np.empty((leads, len(names)))
    for start in range(0, leads, block_h):
        sl = slice(start, min(leads, start + block_h))
        p, a = preds[:, sl], y[:, sl]
        best, best_err = 0, np.inf
        for g0 in range(0, len(grid), chunk):
            g = grid[g0:g0 + chunk]
            err = metrics.mape(a[None], np.einsum("olm,gm->gol", p, g), axis=(1, 2))
            i = int(np.argmin(err))
            if err[i] < best_err:
                best, best_err = g0 + i, err[i]
        out[sl] = grid[best]
    return out


def compose_stacked(predictions: Mapping[str, np.ndarray], zones: np.ndarray,
                    weights: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """The stacked forecaster's predictions: per row's zone and lead, the weighted sum of the models'
    forecasts (``weights``: {zone: {"models": [...], "weights": (leads x models)}})."""
    first = next(iter(predictions.values()))
    out = np.full_like(first, np.nan, dtype=float)
    for zone, w in weights.items():
        rows = zones == zone
        table = np.asarray(w["weights"], float)[: first.shape[1]]
        out[rows] = sum(predictions[m][rows] * table[:, i] for i, m in enumerate(w["models"]))
    return out


def describe_weights(models: list[str], row) -> str:
    """One lead's stack as text: ``0.6 ridge + 0.4 tcn`` (a single model: its name)."""
    parts = [(float(w), m) for m, w in zip(models, row) if w > 0]
    if len(parts) == 1:
        return parts[0][1]
    return " + ".join(f"{w:.2g} {m}" for w, m in sorted(parts, reverse=True))


def issue_hourly(traces_path: str | Path, model_dir: str | Path, cfg: Mapping[str, Any], hourly: Mapping[str, Any],
                 out: str | Path) -> pd.DataFrame:
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
        raise ValueError(f"the traces do not cover {h_start}..{h_end} plus the forecast horizon "
                         "(carbon.schedule.start/days)")
    selection = load_selection(model_dir, zones)
    predictions = with_combinations({model.name: _predictor(model, lookback)(every_hour)[:, :h_leads]
                                     for model in load_fitted(model_dir, cfg)})
    predictions[SELECTED] = compose_stacked(predictions, every_hour.zone, selection)
    frames = []
    for name, hp in predictions.items():
        frames.append(pd.DataFrame({
            "zone": np.repeat(every_hour.zone, h_leads), "model": name,
            "origin": np.repeat(every_hour.origin, h_leads), "lead_h": np.tile(np.arange(1, h_leads + 1), len(hp)),
            "forecast": hp.ravel(), "actual": every_hour.y[:, :h_leads].ravel()}))
    table = pd.concat(frames, ignore_index=True)
    io.write_parquet(table, out, HOURLY_SCHEMA, {"window": [str(h_start), str(h_end)],
                                                "issued": "every hour, with the history up to it"})
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


STACK_DEFAULTS = {"block_h": 6, "weight_grid": 10, "refit": True}


def stack_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``carbon.forecast.stack`` with its defaults: lead-time block, weight grid (multiples of
    1/weight_grid) and whether the ridge forecasters are refit on train + validation before the test."""
    return {**STACK_DEFAULTS, **(cfg.get("stack") or {})}


def conformal_window(cfg: Mapping[str, Any]) -> int:
    """How many recent origins each rolling conformal interval uses: ``conformal_window_days``, or
    ``calibration_days`` (the validation period before ``train_end``) when not given."""
    return int(cfg.get("conformal_window_days") or cfg["calibration_days"])


def adapt_rate(cfg: Mapping[str, Any]) -> float:
    """ACI's step ``gamma`` for the intervals (``conformal_adapt_rate``; 0: plain rolling conformal)."""
    return float(cfg.get("conformal_adapt_rate") or 0.0)


def run_forecasting(traces_path: str | Path, cfg: Mapping[str, Any], seed: int, metrics_out: str | Path,
                    forecasts_out: str | Path, model_dir: str | Path) -> pd.DataFrame:
    """Train on the train period (last ``calibration_days`` held out for conformal intervals),
    evaluate with daily rolling origins over the test period; the fitted forecasters go to
    ``model_dir`` (``issue_hourly`` uses them)."""
    traces = io.read_parquet(traces_path)
    zones = list(cfg["zones"])
    lookback, horizon = int(cfg["lookback_h"]), int(cfg["horizon_h"])
    lookback_eff = max(lookback, 168)  # seasonal-naive 168 h needs a week of history
    train_end = pd.Timestamp(cfg["train_end"], tz="UTC")
    calib_start = train_end - pd.Timedelta(days=int(cfg["calibration_days"]))
    fit = zone_windows(traces, zones, lookback_eff, horizon, cfg["train_start"], str(calib_start), int(cfg["train_stride_h"]))
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
                test.origin[sel], horizon, level, window=conformal_window(cfg), gamma=adapt_rate(cfg))
            low[sel], high[sel] = interval_bounds(pred[sel], half)
        for zone in zones:
            sel = test.zone == zone
            a, f, lo, hi = test.y[sel], pred[sel], low[sel], high[sel]
            for lead, (m1, m2, cov) in enumerate(zip(metrics.mape(a, f), metrics.mae(a, f),
                                                     metrics.coverage(a, lo, hi)), start=1):
                metric_rows.append({"zone": zone, "model": name, "lead_h": lead, "mape": m1, "mae": m2,
                                    "coverage": cov, "nominal_coverage": 100 * level, "origins": int(sel.sum()),
                                    "choice": choice[zone][lead - 1] if choice else None,
                                    "validation_mape": float(validation[zone][lead - 1]) if validation else None})
            n = int(sel.sum())
            forecast_frames.append(pd.DataFrame({
                "zone": zone, "model": name, "origin": np.repeat(test.origin[sel], horizon),
                "lead_h": np.tile(np.arange(1, horizon + 1), n), "forecast": f.ravel(), "low": lo.ravel(),
                "high": hi.ravel(), "actual": a.ravel()}))
        log.info("%s: day-1 MAPE %s", name, {z: round(metrics.day1(metrics.mape(test.y[test.zone == z], pred[test.zone == z])), 2) for z in zones})

    with io.atomic_directory(model_dir) as tmp:
        refit_windows = None
        for model in build_models(cfg):
            predict = _predictor(model, lookback)
            if isinstance(model, TCN):  # the TCN sees the last `lookback` hours only
                model.fit(Windows(fit.x[:, -lookback:], fit.y, fit.hour, fit.dow, fit.zone, fit.origin), seed)
            else:
                model.fit(fit, seed)
            calib_preds[model.name] = predict(calib)  # out of sample: the validation origins were not fitted on
            if isinstance(model, Ridge) and stack["refit"]:
                # refit on train + validation before the test: the months just before it (seconds for a ridge)
                if refit_windows is None:
                    refit_windows = zone_windows(traces, zones, lookback_eff, horizon, cfg["train_start"],
                                                 str(train_end), int(cfg["train_stride_h"]))
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
            table = stack_weights({n: calib_preds[n][c] for n in base}, calib.y[c], stack["block_h"], stack["weight_grid"])
            weights[z] = {"models": base, "weights": table.round(6).tolist()}
        stacked_calib = compose_stacked(calib_preds, calib.zone, weights)
        choice = {z: [describe_weights(base, row) for row in weights[z]["weights"]] for z in zones}
        evaluate(SELECTED, stacked_calib, compose_stacked(test_preds, test.zone, weights), choice,
                 {z: metrics.mape(calib.y[calib.zone == z], stacked_calib[calib.zone == z]) for z in zones})
        io.write_json({"weights": weights, "choice": choice, "validation": [str(calib_start), str(train_end)],
                       "rule": f"convex stacking per zone and {stack['block_h']} h block of lead times, weights in steps "
                               f"of 1/{stack['weight_grid']}, lowest validation MAPE"
                               + ("; ridge refit on train + validation before the test" if stack["refit"] else "")},
                      tmp / SELECTION_FILE)
        io.write_json({"config": dict(cfg), "seed": seed, "provenance": provenance.collect()}, tmp / "forecasting.json")
    table = pd.DataFrame(metric_rows, columns=METRICS_SCHEMA.names)
    for zone, ratio in day1_vs_naive(table, SELECTED).items():
        if ratio > 1.0:  # the validation choice did not carry over to the test period: say so
            log.warning("%s: the selected forecaster's day-1 MAPE is %.2fx seasonal-naive-24h's on the test period "
                        "(worse than 'same hour yesterday')", zone, ratio)
    meta = {"train": [cfg["train_start"], str(calib_start)], "calibration": [str(calib_start), str(train_end)],
            "test": [cfg["test_start"], cfg["test_end"]], "interval": "rolling split conformal on relative errors, per zone and lead time: each origin uses "
            f"the {conformal_window(cfg)} most recent origins whose errors were observable by then"
            + (f", its level adapted to the misses observed so far (ACI, gamma {adapt_rate(cfg)})" if adapt_rate(cfg) else "")}
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
    out["skill"] = 1.0 - out["mape"].to_numpy() / naive.reindex(pd.MultiIndex.from_frame(out[["zone", "lead_h"]])).to_numpy()
    return out.reset_index(drop=True)
