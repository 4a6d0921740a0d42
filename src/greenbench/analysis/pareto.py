"""Pure Pareto analysis: non-dominated sets (plain and uncertainty-aware) and hypervolume.

Objectives are columns of an (n, k) array with a per-column sense: +1 maximise, -1 minimise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _oriented(points, senses) -> np.ndarray:
    """Turn every objective into 'smaller is better'."""
    p = np.asarray(points, dtype=float)
    s = np.asarray(senses, dtype=float)
    if p.ndim != 2 or p.shape[1] != s.size:
        raise ValueError(f"points must be (n, {s.size}), got {p.shape}")
    return p * -s


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a dominates b (both oriented: smaller is better)."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_front(points, senses: Sequence[int]) -> np.ndarray:
    """Boolean mask of the non-dominated points."""
    p = _oriented(points, senses)
    n = len(p)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and dominates(p[j], p[i]):
                mask[i] = False
                break
    return mask


def uncertain_front(low, high, senses: Sequence[int]) -> np.ndarray:
    """Points not *clearly* dominated: i is dropped only if some j is better in every objective
    even comparing j's worst end of its interval with i's best end (intervals separate)."""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    s = np.asarray(senses, dtype=float)
    # worst case of j and best case of i, in 'smaller is better' orientation
    worst = np.where(s > 0, -lo, hi)
    best = np.where(s > 0, -hi, lo)
    n = len(lo)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and np.all(worst[j] <= best[i]) and np.any(worst[j] < best[i]):
                mask[i] = False
                break
    return mask


def unbounded_where_missing(low, high) -> tuple[np.ndarray, np.ndarray]:
    """Interval ends with a missing (NaN) end made infinite: for ``uncertain_front``, a point without an
    interval on an axis can neither dominate nor be dominated there."""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)


def hypervolume(points, senses: Sequence[int], reference) -> float:
    """Hypervolume dominated by ``points`` up to ``reference`` (2 or 3 objectives)."""
    p = _oriented(points, senses)
    ref = np.asarray(reference, dtype=float) * -np.asarray(senses, dtype=float)
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[pareto_front(p, [-1] * p.shape[1])]
    if p.shape[1] == 1:
        return float(ref[0] - p[:, 0].min())
    if p.shape[1] == 2:
        p = p[np.argsort(p[:, 0])]
        volume, prev_y = 0.0, ref[1]
        for x, y in p:
            if y < prev_y:
                volume += (ref[0] - x) * (prev_y - y)
                prev_y = y
        return float(volume)
    if p.shape[1] == 3:
        # slice along the third objective: sum of 2D hypervolumes between consecutive levels
        zs = np.unique(np.append(p[:, 2], ref[2]))
        volume = 0.0
        for z0, z1 in zip(zs, zs[1:]):
            active = p[p[:, 2] <= z0][:, :2]
            volume += hypervolume(active, [-1, -1], ref[:2]) * (z1 - z0)
        return float(volume)
    raise ValueError("hypervolume supports 1 to 3 objectives")
