"""Supervised windows of hourly carbon intensity: the input every forecaster fits and predicts on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Windows:
    """Supervised windows: x (n, lookback) history, y (n, horizon) future, calendar of the origin."""

    x: np.ndarray
    y: np.ndarray
    hour: np.ndarray  # origin hour of day (0-23)
    dow: np.ndarray  # origin day of week
    zone: np.ndarray
    origin: np.ndarray  # origin timestamps (first forecast hour)


def make_windows(
    values: np.ndarray, times: pd.DatetimeIndex, zone: str, lookback: int, horizon: int, origins: np.ndarray
) -> Windows:
    """Windows whose first forecast hour is at each index in ``origins``."""
    origins = np.asarray([o for o in origins if o - lookback >= 0 and o + horizon <= len(values)], dtype=int)
    idx_x = origins[:, None] + np.arange(-lookback, 0)[None, :]
    idx_y = origins[:, None] + np.arange(horizon)[None, :]
    t = times[origins]
    return Windows(
        values[idx_x],
        values[idx_y],
        np.asarray(t.hour),
        np.asarray(t.day_of_week),
        np.full(len(origins), zone),
        np.asarray(t),
    )


def concat(ws: list[Windows]) -> Windows:
    return Windows(*(np.concatenate([getattr(w, f) for w in ws]) for f in Windows.__dataclass_fields__))


def _subset(w: Windows, sel: np.ndarray) -> Windows:
    return Windows(*(getattr(w, f)[sel] for f in Windows.__dataclass_fields__))
