"""Pure forecast metrics over (origins x lead times) arrays."""

from __future__ import annotations

import numpy as np


def mape(actual: np.ndarray, forecast: np.ndarray, axis=0) -> np.ndarray:
    """Mean absolute percentage error (%), ignoring actuals that are zero."""
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(a != 0, np.abs(f - a) / np.abs(a), np.nan)
    return 100.0 * np.nanmean(ape, axis=axis)


def mae(actual: np.ndarray, forecast: np.ndarray, axis=0) -> np.ndarray:
    return np.mean(np.abs(np.asarray(forecast, float) - np.asarray(actual, float)), axis=axis)


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray, axis=0) -> np.ndarray:
    a = np.asarray(actual, float)
    return 100.0 * np.mean((a >= low) & (a <= high), axis=axis)


def day1(by_lead: np.ndarray) -> float:
    """Day-1 value: the mean over lead times 1-24 h (index 0..23)."""
    return float(np.mean(np.asarray(by_lead)[:24]))
