"""Batch formation under Poisson traffic (greenbench.analysis.traffic): the analytic mean fill and wait
quantiles agree with a discrete-event simulation, and behave as a batcher must."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.analysis import traffic

CASES = [  # (requests/s, max batch, max wait s)
    (0.28, 64, 0.05),  # the routing scenario's 1,000 requests/hour: batches of about one
    (30.0, 8, 0.05),
    (300.0, 64, 0.05),
    (100.0, 16, 0.1),
    (10.0, 8, None),  # wait for a full batch
    (300.0, 64, None),
]


@pytest.mark.parametrize("rate,batch,wait", CASES)
def test_the_analytic_fill_and_wait_match_a_simulation(rate, batch, wait):
    waits, sizes = traffic.simulate(rate, batch, wait, n_arrivals=40_000, seed=7)
    assert traffic.mean_fill(rate, batch, wait) == pytest.approx(sizes.mean(), rel=0.02)
    for q in (0.5, 0.9, 0.95):
        simulated = float(np.quantile(waits, q))
        assert traffic.wait_quantile(q, rate, batch, wait) == pytest.approx(simulated, rel=0.03, abs=2e-4), q
    for x in (0.01, 0.03, 0.2):  # the CDF itself, over requests
        assert traffic.wait_cdf(x, rate, batch, wait) == pytest.approx(float(np.mean(waits <= x)), abs=0.01), x


def test_a_batch_of_one_never_waits_and_the_timeout_bounds_every_wait():
    assert traffic.mean_fill(5.0, 1, None) == 1 and traffic.wait_quantile(0.95, 5.0, 1, None) == 0.0
    assert traffic.wait_quantile(0.999, 1000.0, 64, 0.02) <= 0.02
    assert traffic.wait_cdf(0.02, 1000.0, 64, 0.02) == 1.0 and traffic.wait_cdf(-1e-9, 3.0, 8, 0.05) == 0.0
    # at 1,000 requests/hour a batch of 64 is one request plus a 1.4% chance of a second, which waited 50 ms
    assert traffic.mean_fill(1000 / 3600, 64, 0.05) == pytest.approx(1 + (1 - math.exp(-0.05 * 1000 / 3600)), rel=1e-3)
    assert traffic.wait_quantile(0.5, 1000 / 3600, 64, 0.05) == pytest.approx(0.05)
    # waiting for a full batch of 8 at 1,000 requests/hour: the first request waits 7 arrivals, ~25 s
    assert traffic.wait_quantile(0.95, 1000 / 3600, 8, None) > 20


def test_bad_arguments_are_refused():
    for rate, batch, wait in ((0.0, 8, 0.05), (1.0, 0, 0.05), (1.0, 2.5, 0.05), (1.0, 8, -1.0)):
        with pytest.raises(ValueError, match="traffic"):
            traffic.mean_fill(rate, batch, wait)
    with pytest.raises(ValueError, match="quantile"):
        traffic.wait_quantile(1.0, 1.0, 8, 0.05)


rates = st.floats(0.05, 500.0)
batches = st.integers(1, 64)
waits = st.one_of(st.none(), st.floats(0.0, 0.5))


@settings(max_examples=40, deadline=None)
@given(rates, st.floats(1.1, 10.0), batches, waits)
def test_more_traffic_fills_batches_more_and_waits_less(rate, factor, batch, wait):
    assert 1.0 <= traffic.mean_fill(rate, batch, wait) <= batch
    assert traffic.mean_fill(rate * factor, batch, wait) >= traffic.mean_fill(rate, batch, wait) - 1e-9
    for q in (0.5, 0.95):
        assert (
            traffic.wait_quantile(q, rate * factor, batch, wait) <= traffic.wait_quantile(q, rate, batch, wait) + 1e-9
        )


@settings(max_examples=40, deadline=None)
@given(rates, batches, waits, st.floats(0.0, 2.0), st.floats(0.0, 2.0))
def test_the_wait_cdf_is_a_cdf_bounded_by_the_timeout(rate, batch, wait, x, y):
    lo, hi = sorted((x, y))
    a, b = traffic.wait_cdf(lo, rate, batch, wait), traffic.wait_cdf(hi, rate, batch, wait)
    assert 0.0 <= a <= b + 1e-12 <= 1.0 + 1e-12
    if wait is not None:
        assert traffic.wait_quantile(0.99, rate, batch, wait) <= wait + 1e-12
    if wait is None or wait > 0:  # a bigger batch (same timeout) waits at least as long
        assert (
            traffic.wait_quantile(0.95, rate, batch + 1, wait) >= traffic.wait_quantile(0.95, rate, batch, wait) - 1e-9
        )


def test_utilisation_is_the_busy_share():
    assert traffic.utilisation(10.0, 0.05) == pytest.approx(0.5)
