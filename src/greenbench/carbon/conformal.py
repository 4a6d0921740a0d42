"""Rolling split-conformal prediction intervals on relative errors, per zone and lead time, and their
adaptive (ACI) variant; with the ``carbon.forecast`` settings that shape them."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd


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


def rolling_conformal_halfwidths(
    pool_origins: np.ndarray, pool_rel: np.ndarray, origins: np.ndarray, horizon: int, level: float, window: int
) -> np.ndarray:
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
            raise ValueError(
                f"too few calibration origins before {stamp} for a {level:.0%} interval "
                f"({len(known)}): lengthen carbon.forecast.calibration_days (or conformal_window_days)"
            )
        out[i] = _conformal_quantile(pool_rel[known], level)
    return out


def adaptive_conformal_halfwidths(
    pool_origins: np.ndarray,
    pool_rel: np.ndarray,
    origins: np.ndarray,
    horizon: int,
    level: float,
    window: int,
    gamma: float,
) -> np.ndarray:
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
    seen_t, seen_miss = [], []  # earlier target origins and their misses (per lead)
    for i in np.argsort(targets, kind="stable"):
        t = targets[i]
        if seen_t:
            observed = (np.asarray(seen_t)[:, None] + lead_ns[None, :]) <= t  # (earlier, leads)
            a_t = alpha + gamma * np.sum(np.where(observed, alpha - np.asarray(seen_miss), 0.0), axis=0)
        else:
            a_t = np.full(pool_rel.shape[1], alpha)
        a_t = np.clip(a_t, -gamma, 1.0 + gamma)
        known = np.flatnonzero(known_at <= t)[-window:]
        pool = np.sort(rel_sorted[known], axis=0)  # (n, leads)
        n = pool.shape[0]
        rank = np.ceil((n + 1) * (1.0 - a_t)).astype(int)  # finite-sample rank
        out[i] = np.where(rank > n, np.inf, pool[np.clip(rank, 1, n) - 1, np.arange(pool.shape[1])])
        seen_t.append(t)
        seen_miss.append((rel_of[int(t)] > out[i]).astype(float))
    return out


def conformal_window(cfg: Mapping[str, Any]) -> int:
    """How many recent origins each rolling conformal interval uses: ``conformal_window_days``, or
    ``calibration_days`` (the validation period before ``train_end``) when not given."""
    return int(cfg.get("conformal_window_days") or cfg["calibration_days"])


def adapt_rate(cfg: Mapping[str, Any]) -> float:
    """ACI's step ``gamma`` for the intervals (``conformal_adapt_rate``; 0: plain rolling conformal)."""
    return float(cfg.get("conformal_adapt_rate") or 0.0)
