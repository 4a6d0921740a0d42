"""Stein's two-stage stopping rule: its plan, its intervals, and their coverage under stopping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.measure.energy import stopping

LEVEL = 0.95


@settings(deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(2, 6), st.floats(0.005, 0.2), st.integers(6, 30))
def test_trials_needed_is_bounded_and_monotone_in_the_first_stage_sd(s_a, s_b, n0, target, n_max):
    h = stopping.log_half_width(target)
    lo, hi = sorted((s_a, s_b))
    n_lo, n_hi = (stopping.trials_needed(s, n0, h, LEVEL, n_max) for s in (lo, hi))
    assert n0 <= n_lo <= n_hi <= n_max


@settings(deadline=None)
@given(st.lists(st.floats(-0.3, 0.3), min_size=2, max_size=5), st.floats(0.01, 0.1))
def test_an_uncapped_plan_reaches_its_target(first, target):
    h = stopping.log_half_width(target)
    stage = stopping.plan(first, h, LEVEL, n_max=10**6)
    assert not stage.capped
    achieved = stopping.t_quantile(stage.n0 - 1, LEVEL) * stage.s0 / math.sqrt(stage.trials)
    assert achieved <= h + 1e-12


def test_a_plan_without_a_first_stage_goes_to_the_cap():
    stage = stopping.plan([0.1], 0.03, LEVEL, 8)
    assert (stage.n0, stage.trials, stage.capped) == (1, 8, True) and math.isnan(stage.s0)
    with pytest.raises(ValueError, match="cap"):
        stopping.trials_needed(0.1, 5, 0.03, LEVEL, 4)


def test_paired_log_ratio_is_the_geometric_mean_ratio_with_a_positive_interval():
    a, b = np.array([2.0, 2.2, 1.9, 2.1]), np.array([1.0, 1.05, 1.0, 1.0])
    ci = stopping.paired_log_ratio(a, b, n0=3, level=LEVEL)
    assert ci.estimate == pytest.approx(math.exp(np.log(a / b).mean()))
    assert 0 < ci.low < ci.estimate < ci.high
    with pytest.raises(ValueError):
        stopping.paired_log_ratio(a, -b, 3, LEVEL)


def _simulate(rule, sigma, n0=3, n_max=10, target=0.03, reps=20000, seed=0):
    """Coverage of the true mean by the interval a stopping rule reports, on normal log values."""
    rng = np.random.default_rng(seed)
    h = stopping.log_half_width(target)
    covered = trials = 0
    for _ in range(reps):
        y = rng.normal(0.0, sigma, n_max)
        if rule == "stein":
            n = stopping.plan(y[:n0], h, LEVEL, n_max).trials
            ci = stopping.stein_interval(y[:n], n0, LEVEL)
        else:  # naive: stop at the first n whose own t interval is narrow enough
            for n in range(n0, n_max + 1):
                half = stopping.t_quantile(n - 1, LEVEL) * y[:n].std(ddof=1) / math.sqrt(n)
                if half <= h:
                    break
            half = stopping.t_quantile(n - 1, LEVEL) * y[:n].std(ddof=1) / math.sqrt(n)
            mean = y[:n].mean()
            ci = stopping.Interval(mean, mean - half, mean + half)
        covered += ci.contains(0.0)
        trials += n
    return covered / reps, trials / reps


@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.08])  # stops at n0 / in between / mostly at the cap
def test_stein_intervals_keep_nominal_coverage_under_stopping(sigma):
    coverage, mean_trials = _simulate("stein", sigma)
    assert abs(coverage - LEVEL) < 0.01, (coverage, mean_trials)  # 20,000 reps: MC standard error 0.0015


def test_the_naive_rule_undercovers_where_stein_does_not():
    naive, _ = _simulate("naive", 0.03)
    stein, _ = _simulate("stein", 0.03)
    assert naive < LEVEL - 0.02 and abs(stein - LEVEL) < 0.01, (naive, stein)


@pytest.mark.parametrize("gap", [0.1, 0.2, 0.3])  # the costlier cell continues 94% / 65% / 22% of the time
def test_intervals_keep_nominal_coverage_when_only_contenders_continue(gap):
    """energy.stopping.contenders: a cell continues only when its first-stage interval reaches the best cell's;
    the decision reads the first stage's means, yet the costlier cell's interval still covers its true value 95%
    of the time (a cell that stops keeps its first-stage t interval, one that continues its Stein interval)."""
    rng = np.random.default_rng(1)
    sigma, n0, n_max, reps = 0.1, 5, 8, 20000
    h = stopping.log_half_width(0.05)
    covered = continued = 0
    for _ in range(reps):
        best, other = rng.normal(0.0, sigma, n_max), rng.normal(gap, sigma, n_max)
        go_on = stopping.stein_interval(other[:n0], n0, LEVEL).low <= stopping.stein_interval(best[:n0], n0, LEVEL).high
        n = stopping.plan(other[:n0], h, LEVEL, n_max).trials if go_on else n0
        covered += stopping.stein_interval(other[:n], n0, LEVEL).contains(gap)
        continued += go_on
    assert 0.01 < continued / reps < 0.99  # the selection is exercised
    assert abs(covered / reps - LEVEL) < 0.01, covered / reps  # MC standard error 0.0015
