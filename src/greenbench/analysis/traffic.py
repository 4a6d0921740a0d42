"""Batch formation under Poisson traffic: how full a batch gets and how long a request waits for it.

A server collects requests arriving as a Poisson process of rate ``rate`` (requests/s) and dispatches
a batch when ``batch`` requests wait or when the oldest has waited ``max_wait_s`` (``None``: only when
the batch is full). Batches form one after another: the first request after a dispatch opens the next
one. How long the server then computes, and any queue in front of it, is not modelled here (the
answer keeps the utilisation below a bound, where that queue stays short).

Within a batch the i-th request (i = 0 … B-1) arrives ``S_i`` after the first, ``S_i ~ Gamma(i, rate)``;
it is in the batch iff ``S_i <= W``. The rest of the fill, ``R_i = S_{B-1} - S_i ~ Gamma(B-1-i, rate)``, is
independent of ``S_i``, and the request waits ``min(R_i, W - S_i)``. So

    P(wait_i <= x, in batch) = P(S_i <= W) - P(R_i > x) P(S_i < W - x)   for 0 <= x < W
                             = P(S_i <= W)                               for x >= W,

the dispatched batch has ``E[N] = sum_i P(S_i <= W)`` requests, and a random request's (not a random
batch's) wait has the CDF ``sum_i P(wait_i <= x, in batch) / E[N]`` (renewal-reward: batches are
i.i.d. cycles). Pure functions; ``simulate`` is the discrete-event check the tests compare against.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import stats


def _check(rate: float, batch: int, max_wait_s: float | None) -> None:
    if not rate > 0 or not np.isfinite(rate):
        raise ValueError(f"traffic: the arrival rate must be a finite number > 0 requests/s (got {rate!r})")
    if int(batch) != batch or batch < 1:
        raise ValueError(f"traffic: the batch size must be an integer >= 1 (got {batch!r})")
    if max_wait_s is not None and not max_wait_s >= 0:
        raise ValueError(f"traffic: max_wait_s must be >= 0 or None (got {max_wait_s!r})")


def _cdf_gamma(shape: np.ndarray, rate: float, x: float) -> np.ndarray:
    """P(Gamma(shape, rate) <= x) per shape; shape 0 is the point mass at 0."""
    shape = np.asarray(shape, float)
    if x < 0:
        return np.zeros_like(shape)
    out = np.ones_like(shape)
    positive = shape > 0
    out[positive] = stats.gamma.cdf(x, a=shape[positive], scale=1.0 / rate)
    return out


def _sf_gamma(shape: np.ndarray, rate: float, x: float) -> np.ndarray:
    """P(Gamma(shape, rate) > x) per shape (x >= 0)."""
    shape = np.asarray(shape, float)
    out = np.zeros_like(shape)
    positive = shape > 0
    out[positive] = stats.gamma.sf(x, a=shape[positive], scale=1.0 / rate)
    return out


def in_batch(rate: float, batch: int, max_wait_s: float | None) -> np.ndarray:
    """P(the i-th request after the first joins the batch), i = 0 … batch-1."""
    _check(rate, batch, max_wait_s)
    i = np.arange(int(batch))
    return np.ones(len(i)) if max_wait_s is None else _cdf_gamma(i, rate, float(max_wait_s))


def mean_fill(rate: float, batch: int, max_wait_s: float | None) -> float:
    """The expected size of a dispatched batch (1 … ``batch``)."""
    return float(in_batch(rate, batch, max_wait_s).sum())


def wait_cdf(x, rate: float, batch: int, max_wait_s: float | None):
    """P(a random request waits <= x seconds for its batch to be dispatched); ``x`` scalar or array."""
    p = in_batch(rate, batch, max_wait_s)
    i = np.arange(int(batch))
    rest = int(batch) - 1 - i  # R_i's shape
    values = []
    for point in np.atleast_1d(np.asarray(x, float)):
        if point < 0:
            values.append(0.0)
        elif max_wait_s is None:
            values.append(float(_cdf_gamma(rest, rate, point).sum() / batch))
        elif point >= max_wait_s:
            values.append(1.0)
        else:
            joint = p - _sf_gamma(rest, rate, point) * _cdf_gamma(i, rate, float(max_wait_s) - point)
            values.append(float(np.clip(joint.sum() / p.sum(), 0.0, 1.0)))
    return values[0] if np.ndim(x) == 0 else np.array(values)


@lru_cache(maxsize=4096)
def wait_quantile(q: float, rate: float, batch: int, max_wait_s: float | None) -> float:
    """The q-quantile (seconds) of a random request's wait: the least x with ``wait_cdf(x) >= q``."""
    if not 0 < q < 1:
        raise ValueError(f"traffic: a quantile needs 0 < q < 1 (got {q!r})")
    _check(rate, batch, max_wait_s)
    if wait_cdf(0.0, rate, batch, max_wait_s) >= q:
        return 0.0
    if max_wait_s is None:  # a mixture's quantile is at most its components' largest (R_0's)
        hi = float(stats.gamma.ppf(q, a=int(batch) - 1, scale=1.0 / rate))
    else:
        hi = float(max_wait_s)
        below = np.nextafter(hi, 0.0)
        if wait_cdf(below, rate, batch, max_wait_s) < q:  # the atom at W (the timeout's batches)
            return hi
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if wait_cdf(mid, rate, batch, max_wait_s) >= q:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-12 + 1e-9 * hi:
            break
    return hi


def utilisation(rate: float, seconds_per_inference: float) -> float:
    """The server's busy share: batches of n arrive at rate/n and each computes n x seconds_per_inference."""
    return float(rate) * float(seconds_per_inference)


def simulate(
    rate: float, batch: int, max_wait_s: float | None, n_arrivals: int = 50_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A discrete-event run of the same server: (each request's wait, each batch's size), seeded."""
    _check(rate, batch, max_wait_s)
    arrivals = np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, int(n_arrivals)))
    waits, sizes = np.empty(len(arrivals)), []
    start = 0
    while start < len(arrivals):
        full = start + int(batch)
        if max_wait_s is None:
            end = min(full, len(arrivals))
            if end < full:  # the last batch never fills: not dispatched, not counted
                break
            dispatch = arrivals[end - 1]
        else:
            deadline = arrivals[start] + max_wait_s
            end = min(full, int(np.searchsorted(arrivals, deadline, side="right")))
            dispatch = arrivals[end - 1] if end == full else deadline
            if end == len(arrivals) and end < full:
                break  # the run ended while this batch was still open
        waits[start:end] = dispatch - arrivals[start:end]
        sizes.append(end - start)
        start = end
    return waits[:start], np.array(sizes)
