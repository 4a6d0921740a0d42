"""Lifecycle energy (issue 19): build + N inferences, and the break-even against fp32 eager."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenbench.analysis import amortization as am

energy = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
per_inf = st.floats(min_value=1e-4, max_value=10.0, allow_nan=False)


@given(energy, per_inf, st.lists(st.floats(min_value=0, max_value=1e12), min_size=2, max_size=20))
def test_total_energy_is_monotone_in_the_number_of_inferences(build, j, ns):
    ns = np.sort(np.asarray(ns))
    totals = am.total_energy(build, j, ns)
    assert (np.diff(totals) >= 0).all() and totals[0] >= build


@given(energy, per_inf, energy, per_inf)
def test_at_the_break_even_both_totals_are_equal_and_after_it_the_variant_stays_cheaper(build, j, base_build, base_j):
    n = am.break_even(build, j, base_build, base_j)
    if math.isinf(n):
        assert j > base_j or (j == base_j and build > base_build)
        return
    assert n >= 0
    variant, baseline = am.total_energy(build, j, n), am.total_energy(base_build, base_j, n)
    if n > 0:
        assert variant == pytest.approx(baseline, rel=1e-9, abs=1e-6)
    else:
        assert variant <= baseline + 1e-9
    later = n * 10 + 1e6
    assert am.total_energy(build, j, later) <= am.total_energy(base_build, base_j, later) + 1e-6 * later


@given(energy, per_inf, st.floats(min_value=0, max_value=1e7), st.floats(min_value=0, max_value=10))
def test_a_variant_cheaper_to_build_and_per_inference_breaks_even_at_zero(build, j, extra_build, extra_j):
    assert am.break_even(build, j, build + extra_build, j + extra_j) == 0.0


def test_a_variant_dearer_per_inference_never_pays_back():
    assert math.isinf(am.break_even(100.0, 0.2, 0.0, 0.1))
    assert am.break_even(100.0, 0.1, 0.0, 0.2) == pytest.approx(1000.0)


def _footprint(build_kj: dict[str, float | None], finetune_j=5000.0):
    rows = [{"job": "finetune", "target": "results/models/minilm/baseline", "energy_j": finetune_j}]
    rows += [
        {
            "job": "build_variant",
            "target": f"results/variants/cpu/minilm/{v}",
            "energy_j": None if kj is None else kj * 1e3,
        }
        for v, kj in build_kj.items()
    ]
    return pd.DataFrame(rows)


def _energy(j: dict[str, float], batch=8):
    return pd.DataFrame(
        [
            {
                "device": "cpu",
                "model": "minilm",
                "variant": v,
                "batch_size": batch,
                "padding": "dynamic",
                "mode": "eager",
                "metric": am.METRIC,
                "mean": value,
                "energy_label": "estimated",
            }
            for v, value in j.items()
        ]
    )


def _ratios(r: dict[str, tuple[float, float, float]], batch=8):
    return pd.DataFrame(
        [
            {
                "device": "cpu",
                "model": "minilm",
                "variant": v,
                "batch_size": batch,
                "padding": "dynamic",
                "mode": "eager",
                "metric": am.METRIC,
                "ratio": a,
                "ci_low": lo,
                "ci_high": hi,
            }
            for v, (a, lo, hi) in r.items()
        ]
    )


def test_amortize_counts_the_fine_tune_the_own_build_and_the_source_recipe_of_a_runtime_cell():
    fp = _footprint({"prune_heads50": 20.0, "prune_heads50@onnxruntime": 1.0, "topk16_ft": 10.0})
    energy = _energy(
        {
            "fp32": 0.10,
            "int8_dynamic": 0.05,
            "prune_heads50": 0.08,
            "prune_heads50@onnxruntime": 0.06,
            "topk16_ft": 0.12,
        }
    )
    ratios = _ratios(
        {
            "int8_dynamic": (0.5, 0.45, 0.55),
            "prune_heads50": (0.8, 0.7, 1.05),
            "prune_heads50@onnxruntime": (0.6, 0.55, 0.65),
            "topk16_ft": (1.2, 1.1, 1.3),
        }
    )
    table, curves = am.amortize(fp, energy, ratios, 8, [1e3, 1e6, 1e9])
    t = table.set_index("variant")
    assert t.loc["fp32", "build_j"] == 5000.0 and t.loc["fp32", "verdict"] == "baseline"
    assert t.loc["int8_dynamic", "break_even_n"] == 0.0 and t.loc["int8_dynamic", "verdict"] == "pays back at once"
    assert t.loc["prune_heads50", "break_even_n"] == pytest.approx(20e3 / 0.02)
    assert math.isinf(t.loc["prune_heads50", "break_even_high"])  # its interval reaches no saving
    assert t.loc["prune_heads50", "verdict"] == "pays back (the interval allows never)"
    assert t.loc["prune_heads50@onnxruntime", "own_build_j"] == pytest.approx(21e3)  # pruning + export
    assert t.loc["topk16_ft", "verdict"] == "never pays back"
    assert len(curves) == 5 * 3
    fp32 = curves[curves.variant == "fp32"].set_index("inferences")
    assert fp32.loc[1e3, "j_per_inference"] == pytest.approx((5000 + 1e3 * 0.1) / 1e3)


def test_an_unavailable_build_energy_makes_the_row_unavailable_not_free():
    table, _ = am.amortize(
        _footprint({"prune_heads50": None}),
        _energy({"fp32": 0.1, "prune_heads50": 0.08}),
        _ratios({"prune_heads50": (0.8, 0.75, 0.85)}),
        8,
        [1e3],
    )
    row = table.set_index("variant").loc["prune_heads50"]
    assert math.isnan(row.build_j) and row.verdict == "unavailable"


def test_the_lifecycle_claims_read_the_break_even_against_the_tabulated_horizon():
    from greenbench.report import claims

    fp = _footprint({"prune_heads50": 20.0, "topk16_ft": 10.0, "spiking": 500.0})
    energy = _energy({"fp32": 0.10, "prune_heads50": 0.08, "topk16_ft": 0.12, "spiking": 0.0999})
    ratios = _ratios({"prune_heads50": (0.8, 0.75, 0.85), "topk16_ft": (1.2, 1.1, 1.3), "spiking": (0.999, 0.99, 1.01)})
    table, _ = am.amortize(fp, energy, ratios, 8, [1e3])
    measurements = pd.DataFrame({"device": ["cpu"]})
    ev = claims.Evidence(measurements, pd.DataFrame(), amortization=table, horizon=1e9)
    verdicts = {c.id: c.check(ev) for c in claims.CLAIMS if c.id.endswith("-lifecycle")}
    assert verdicts["pruning-lifecycle"][1] == claims.SUPPORTED and "prune_heads50" in verdicts["pruning-lifecycle"][0]
    assert verdicts["sparsification-lifecycle"][1] == claims.CONTRADICTED
    assert verdicts["spiking-lifecycle"][1] == claims.INCONCLUSIVE
    assert claims.Evidence(measurements, pd.DataFrame()).amortization is None
    assert (
        claims._lifecycle(("spiking",), "spiking")(claims.Evidence(measurements, pd.DataFrame()))[1]
        == claims.UNTESTABLE
    )


def test_the_break_even_estimate_comes_from_the_paired_ratio_and_lies_in_its_interval():
    # the cells' means say 0.07/0.10 = 0.7; the paired ratio (drift cancelled) says 0.8 [0.78, 0.82]
    table, _ = am.amortize(
        _footprint({"prune_heads50": 20.0}),
        _energy({"fp32": 0.10, "prune_heads50": 0.07}),
        _ratios({"prune_heads50": (0.8, 0.78, 0.82)}),
        8,
        [1e3],
    )
    row = table.set_index("variant").loc["prune_heads50"]
    assert row.break_even_n == pytest.approx(20e3 / (0.10 * 0.2))
    assert row.break_even_low <= row.break_even_n <= row.break_even_high
