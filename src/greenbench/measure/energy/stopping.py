"""Sequential stopping of the energy trials: Stein's two-stage procedure. Pure functions, no I/O.

Every cell runs a first stage of ``n0`` trials. From the first stage's sample standard deviation
``s0`` of a quantity (on the log scale: a log ratio paired by trial, or a log J/inference), the
number of trials that brings the 95% interval's half-width down to ``d`` is

    n = max(n0, ceil((t[n0-1, 1-alpha/2] * s0 / d)^2)),  capped at n_max,

and the interval from all ``n`` trials is ``mean +- t[n0-1, 1-alpha/2] * s0 / sqrt(n)``.

Why this rule: C. Stein (1945), "A two-sample test for a linear hypothesis whose power is
independent of the variance", Ann. Math. Statist. 16(3), 243-258. For normal observations the
sample mean is independent of the first stage's variance, and ``n`` depends on nothing else, so
``(mean - mu) * sqrt(n) / s0`` is exactly Student-t with ``n0 - 1`` degrees of freedom: the
interval keeps its nominal coverage however the stopping falls, cap included (the cap is a
function of ``s0`` too). The naive rule ("measure until the t interval of what you have is narrow
enough") does not: it stops preferentially when the running SD happens to be small, and its
intervals undercover (tests/measure/test_stopping.py shows both on synthetic data). The price of honesty is
the ``t[n0-1]`` quantile of a small first stage (4.30 at n0 = 3), which is why n0 is configurable.

Log scale: energies and their ratios are positive and multiplicative; the paired log ratio of two
cells measured in the same trial cancels the drift they share. Intervals are exponentiated back,
so a ratio's estimate is the geometric mean of the per-trial ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from greenbench.analysis.stats import Interval


def t_quantile(df: int, level: float) -> float:
    from scipy import stats as st

    return float(st.t.ppf(0.5 + level / 2, df))


def log_half_width(relative: float) -> float:
    """The log-scale half-width whose exponentiated interval is within ``relative`` of the estimate
    on the wider (upper) side: exp(h) - 1 = relative."""
    if relative <= 0:
        raise ValueError(f"target half-width must be positive, got {relative}")
    return math.log1p(relative)


def trials_needed(s0: float, n0: int, half_width: float, level: float, n_max: int) -> int:
    """Stein's total sample size for a log-scale half-width ``half_width`` from the first stage's SD."""
    if n0 < 2:
        raise ValueError("Stein's procedure needs a first stage of at least 2 trials")
    if n_max < n0:
        raise ValueError(f"the cap ({n_max}) is below the first stage ({n0})")
    if not np.isfinite(s0) or s0 < 0:
        return n_max
    n = math.ceil((t_quantile(n0 - 1, level) * s0 / half_width) ** 2)
    return int(min(n_max, max(n0, n)))


@dataclass(frozen=True)
class Stage:
    """The plan for one quantity of one cell after the first stage."""

    n0: int
    s0: float
    trials: int  # Stein's n, capped
    capped: bool  # the target needed more than n_max trials


def plan(first_stage: Sequence[float], half_width: float, level: float, n_max: int) -> Stage:
    """Stein's plan from a quantity's first-stage values (log scale)."""
    y = np.asarray(first_stage, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 2:
        return Stage(int(y.size), float("nan"), n_max, True)
    s0 = float(y.std(ddof=1))
    uncapped = trials_needed(s0, y.size, half_width, level, 10**9)
    return Stage(int(y.size), s0, min(uncapped, n_max), uncapped > n_max)


def stein_interval(values: Sequence[float], n0: int, level: float) -> Interval:
    """The interval for the mean of ``values`` (first ``n0`` = the first stage) on their own scale."""
    y = np.asarray(values, dtype=float)
    if n0 < 2 or y.size < n0:
        raise ValueError(f"Stein's interval needs at least a first stage of 2 values (n0={n0}, n={y.size})")
    s0 = float(y[:n0].std(ddof=1))
    mean = float(y.mean())
    h = t_quantile(n0 - 1, level) * s0 / math.sqrt(y.size)
    return Interval(mean, mean - h, mean + h)


def log_interval(values: Sequence[float], n0: int, level: float) -> Interval:
    """Stein's interval on the log scale, exponentiated: geometric mean of positive ``values``."""
    ci = stein_interval(np.log(np.asarray(values, dtype=float)), n0, level)
    return Interval(math.exp(ci.estimate), math.exp(ci.low), math.exp(ci.high))


def paired_log_ratio(a: Sequence[float], b: Sequence[float], n0: int, level: float) -> Interval:
    """Ratio a/b of two cells measured in the same trials (pairs in trial order, the first ``n0``
    pairs the first stage): Stein's interval of the mean log ratio, exponentiated."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("paired log ratio needs two equal-length samples of positive values")
    return log_interval(a / b, n0, level)


def paired_log_ratio_by_trial(
    a: Sequence[float], b: Sequence[float], trials: Sequence[int], first_stage: int, level: float
) -> Interval | None:
    """``paired_log_ratio`` of pairs taken in any order, labelled by trial: trials below
    ``first_stage`` are the first stage. None when fewer than two first-stage pairs exist."""
    trials = np.asarray(trials)
    order = np.argsort(trials, kind="stable")
    n0 = int((trials < first_stage).sum())
    if n0 < 2:
        return None
    return paired_log_ratio(np.asarray(a, dtype=float)[order], np.asarray(b, dtype=float)[order], n0, level)


def relative_half_width(ci: Interval) -> float:
    """The wider side of a (positive) interval relative to its estimate."""
    return max(ci.high / ci.estimate - 1.0, 1.0 - ci.low / ci.estimate)
