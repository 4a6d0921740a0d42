"""Pure statistics: seeded bootstrap intervals, paired ratios, tests with Holm correction,
effect sizes, and carbon conversion. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap_ci(
    values: Sequence[float],
    stat: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of ``stat``; the interval always contains the point estimate."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("bootstrap of an empty sample")
    est = float(stat(x))
    if x.size == 1:
        return Interval(est, est, est)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = np.apply_along_axis(stat, 1, x[idx]) if stat is not np.mean else x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return Interval(est, float(min(lo, est)), float(max(hi, est)))


def paired_ratio(
    a: Sequence[float], b: Sequence[float], n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> Interval:
    """mean(a) / mean(b) with a bootstrap over pairs (a_i, b_i) resampled jointly."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired ratio needs two equal-length non-empty samples, got {a.size} and {b.size}")
    if np.any(b <= 0) or np.any(a < 0):
        raise ValueError("paired ratio needs positive denominators and non-negative numerators")
    est = float(a.mean() / b.mean())
    if a.size == 1:
        return Interval(est, est, est)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, size=(n_boot, a.size))
    ratios = a[idx].mean(axis=1) / b[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(ratios, [alpha, 1 - alpha])
    return Interval(est, float(min(lo, est)), float(max(hi, est)))


def paired_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired t-test p-value and Cohen's d_z (mean difference / SD of differences)."""
    from scipy import stats as st

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    if d.size < 2 or np.allclose(d, d[0]):
        return (1.0 if np.allclose(d, 0) else 0.0), (0.0 if np.allclose(d, 0) else float(np.sign(d.mean()) * np.inf))
    p = float(st.ttest_rel(a, b).pvalue)
    return p, float(d.mean() / d.std(ddof=1))


def welch_test(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch's t-test p-value and Cohen's d (pooled SD)."""
    from scipy import stats as st

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size < 2 or b.size < 2:
        return float("nan"), float("nan")
    p = float(st.ttest_ind(a, b, equal_var=False).pvalue)
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    return p, float((a.mean() - b.mean()) / pooled) if pooled > 0 else 0.0


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs pass through untouched)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * q[i]))
        adjusted[i] = running
    out[ok] = adjusted
    return out


def cv(values: Sequence[float]) -> float:
    x = np.asarray(values, dtype=float)
    return float(x.std(ddof=1) / x.mean()) if x.size > 1 and x.mean() != 0 else float("nan")


def gco2_per_1000(j_per_inference: float, intensity_g_per_kwh: float) -> float:
    """Grams CO2e per 1,000 inferences at a grid intensity (gCO2e/kWh)."""
    return j_per_inference * 1000.0 / J_PER_KWH * intensity_g_per_kwh
