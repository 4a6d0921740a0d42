import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.analysis import pareto, stats

samples = st.lists(st.floats(0.01, 1e3, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=80, deadline=None)
@given(samples, st.integers(0, 1000))
def test_bootstrap_interval_contains_estimate(values, seed):
    ci = stats.bootstrap_ci(values, seed=seed, n_boot=300)
    assert ci.low <= ci.estimate <= ci.high
    assert ci.estimate == pytest.approx(np.mean(values))
    assert stats.bootstrap_ci(values, seed=seed, n_boot=300) == ci  # seeded


@settings(max_examples=80, deadline=None)
@given(samples, st.integers(0, 1000))
def test_paired_ratio_of_identical_data_is_one(values, seed):
    ci = stats.paired_ratio(values, values, seed=seed, n_boot=300)
    assert ci.estimate == pytest.approx(1.0) and ci.low == pytest.approx(1.0) and ci.high == pytest.approx(1.0)


@given(samples, st.floats(0.1, 10))
def test_paired_ratio_scales(values, k):
    ci = stats.paired_ratio([v * k for v in values], values, n_boot=200)
    assert ci.estimate == pytest.approx(k) and ci.low <= ci.estimate <= ci.high


def test_paired_ratio_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.paired_ratio([1, 2], [1])
    with pytest.raises(ValueError):
        stats.paired_ratio([1], [0])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_is_monotone_bounded_and_not_below_raw(ps):
    adj = stats.holm(ps)
    assert np.all(adj >= np.asarray(ps) - 1e-12) and np.all(adj <= 1.0)
    order = np.argsort(ps)
    assert np.all(np.diff(adj[order]) >= -1e-12)


def test_paired_test_detects_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(10, 0.1, 20)
    p, d = stats.paired_test(a + 1.0, a + rng.normal(0, 0.05, 20))
    assert p < 1e-6 and d > 5
    assert stats.paired_test(a, a) == (1.0, 0.0)


def test_carbon_conversion():
    # 3.6 J per inference = 1 Wh per 1000 inferences; at 500 g/kWh that is 0.5 g
    assert stats.gco2_per_1000(3.6, 500) == pytest.approx(0.5)


points = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 10), st.floats(0, 10)), min_size=1, max_size=25)


@settings(max_examples=100, deadline=None)
@given(points)
def test_front_is_non_dominated_and_complete(pts):
    p = np.asarray(pts)
    senses = [1, -1, -1]  # accuracy up, joules down, latency down
    mask = pareto.pareto_front(p, senses)
    o = p * -np.asarray(senses)
    for i, j in itertools.product(range(len(p)), repeat=2):
        if mask[i] and mask[j]:
            assert not pareto.dominates(o[i], o[j])
    for i in np.flatnonzero(~mask):  # everything left out is dominated by something
        assert any(pareto.dominates(o[j], o[i]) for j in range(len(p)) if j != i)
    assert mask.any()


@settings(max_examples=60, deadline=None)
@given(points, st.floats(0, 0.5))
def test_uncertain_front_contains_plain_front(pts, width):
    p = np.asarray(pts)
    senses = [1, -1, -1]
    plain = pareto.pareto_front(p, senses)
    fuzzy = pareto.uncertain_front(p - width, p + width, senses)
    assert np.all(fuzzy[plain])
    zero_width = pareto.uncertain_front(p, p, senses)
    assert np.array_equal(zero_width, plain)


def test_hypervolume_known_values():
    # minimise both: points (1,2) and (2,1), reference (3,3): area 1*2 + 1*1 ... = 3
    assert pareto.hypervolume([[1, 2], [2, 1]], [-1, -1], [3, 3]) == pytest.approx(3.0)
    assert pareto.hypervolume([[1, 1, 1]], [-1, -1, -1], [2, 2, 2]) == pytest.approx(1.0)
    # maximise accuracy, minimise joules
    assert pareto.hypervolume([[0.9, 1.0]], [1, -1], [0.5, 3.0]) == pytest.approx(0.4 * 2.0)


@settings(max_examples=50, deadline=None)
@given(points)
def test_hypervolume_monotone_in_points(pts):
    p = np.asarray(pts)
    senses, ref = [1, -1, -1], [-0.1, 11, 11]
    full = pareto.hypervolume(p, senses, ref)
    assert full >= pareto.hypervolume(p[:1], senses, ref) - 1e-9
    assert full == pytest.approx(pareto.hypervolume(p[pareto.pareto_front(p, senses)], senses, ref))


def test_fronts_without_any_energy_value_use_the_objectives_that_exist():
    import pandas as pd

    from greenbench.analysis.fronts import compute_fronts

    cell = {"device": "cpu", "model": "m", "batch_size": 8, "padding": "dynamic", "mode": "eager"}
    energy = pd.DataFrame(
        [
            dict(cell, variant=v, metric=metric, mean=value, ci_low=value, ci_high=value, energy_label=label)
            for v, lat in (("fp32", 50.0), ("int8_dynamic", 20.0))
            for metric, value, label in (
                ("latency_p50_ms", lat, "measured"),
                ("j_per_inf_gross", float("nan"), "unavailable"),
            )
        ]
    )
    accuracy = pd.DataFrame(
        [
            {"device": "cpu", "model": "m", "variant": v, "status": "ok", "accuracy": a, "ci_low": a, "ci_high": a}
            for v, a in (("fp32", 0.88), ("int8_dynamic", 0.87))
        ]
    )
    points, hv = compute_fronts(accuracy, energy)
    assert set(points.objectives) == {"accuracy-latency"}  # nothing invented for energy
    assert points.on_front.all() and len(hv) == 1
