"""The seasonal-naive forecaster: the same hour one period (a day, a week) earlier."""

from __future__ import annotations

import numpy as np

from greenbench.carbon.forecasters.forecaster import Forecaster, Model, register_forecaster
from greenbench.carbon.forecasters.windows import Windows


class SeasonalNaive(Model):
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


register_forecaster(
    Forecaster(
        "seasonal_naive",
        0,
        lambda cfg: [SeasonalNaive(24), SeasonalNaive(168)],
        "the same hour a day and a week earlier",
    )
)
