"""The ridge forecaster: direct multi-output ridge regression on log lags + calendar, per zone and
origin hour; and the ``ridge_alpha`` config helpers (one ridge candidate per penalty)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from greenbench.carbon.forecasters.forecaster import Forecaster, Model, register_forecaster
from greenbench.carbon.forecasters.windows import Windows, _subset


def _log_features(w: Windows, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Log intensities of the last ``lags`` hours relative to the last one, day-of-week, intercept;
    and the last log intensity (the level the targets are relative to)."""
    logs = np.log(np.maximum(w.x[:, -lags:], 1.0))
    last = logs[:, -1:]
    return np.hstack([logs - last, np.eye(7)[w.dow], np.ones((len(w.x), 1))]), last


class Ridge(Model):
    """Direct multi-output ridge regression in log space, one model per zone and origin hour: the
    targets are log(y / last value), so the squared loss tracks relative (MAPE-like) error and each
    zone keeps its own daily shape. Falls back to the zone's all-hours model for an hour it never saw."""

    name = "ridge"
    refit_on_validation = True  # seconds to refit on train + validation (carbon.forecast.stack.refit)

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


def ridge_alphas(cfg: Mapping[str, Any]) -> list[float]:
    """``ridge_alpha``: one penalty, or a list (one ridge forecaster per penalty, all stacking candidates)."""
    alpha = cfg["ridge_alpha"]
    return [float(a) for a in (alpha if isinstance(alpha, (list, tuple)) else [alpha])]


def ridge_names(alphas: list[float]) -> list[str]:
    """The ridge candidates' names: the first penalty's is ``ridge``, the others ``ridge_a<alpha>``."""
    return ["ridge" if i == 0 else f"ridge_a{a:g}" for i, a in enumerate(alphas)]


def _build(cfg: Mapping[str, Any]) -> list:
    alphas = ridge_alphas(cfg)
    return [Ridge(alpha=a, name=n) for a, n in zip(alphas, ridge_names(alphas))]


register_forecaster(Forecaster("ridge", 1, _build, "ridge regression on log lags + calendar, one per ridge_alpha"))
