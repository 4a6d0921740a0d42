"""The ``selected`` forecaster: forecast combinations and the convex stack of the base forecasters
chosen per zone and block of lead times on the validation origins; with ``carbon.forecast.stack``."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from greenbench.carbon import metrics


SELECTED = "selected"  # per zone and block of leads, the convex stack with the lowest validation MAPE
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


def stack_weights(
    validation: Mapping[str, np.ndarray], actual: np.ndarray, block_h: int, steps: int, chunk: int = 2048
) -> np.ndarray:
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
            g = grid[g0 : g0 + chunk]
            err = metrics.mape(a[None], np.einsum("olm,gm->gol", p, g), axis=(1, 2))
            i = int(np.argmin(err))
            if err[i] < best_err:
                best, best_err = g0 + i, err[i]
        out[sl] = grid[best]
    return out


def compose_stacked(
    predictions: Mapping[str, np.ndarray], zones: np.ndarray, weights: Mapping[str, Mapping[str, Any]]
) -> np.ndarray:
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


STACK_DEFAULTS = {"block_h": 6, "weight_grid": 10, "refit": True}


def stack_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``carbon.forecast.stack`` with its defaults: lead-time block, weight grid (multiples of
    1/weight_grid) and whether the ridge forecasters are refit on train + validation before the test."""
    return {**STACK_DEFAULTS, **(cfg.get("stack") or {})}
