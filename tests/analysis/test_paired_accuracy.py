"""Paired accuracy against fp32: the paired bootstrap over sentences, McNemar's exact test, Newcombe's
score interval as its check, alignment by sentence index, the accuracy table's paired columns and the
uncertainty-aware front on paired intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.analysis import paired_accuracy as pa_
from greenbench.analysis import pareto

N = 872


def table(a: int, b: int, c: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors (fp32, variant) with the 2x2 counts a (both right), b (fp32 only), c
    (variant only), d (both wrong), in a shuffled order."""
    ref = np.array([1] * a + [1] * b + [0] * c + [0] * d, bool)
    var = np.array([1] * a + [0] * b + [1] * c + [0] * d, bool)
    order = np.random.default_rng(seed).permutation(ref.size)
    return ref[order], var[order]


counts = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(50, 700), st.integers(0, 150))


@settings(max_examples=60, deadline=None)
@given(counts, st.integers(0, 10_000))
def test_the_interval_contains_the_difference_and_the_counts_are_the_discordant_sentences(abcd, seed):
    b, c, a, d = abcd
    ref, var = table(a, b, c, d, seed)
    pair = pa_.paired_delta(ref, var, n_boot=300, seed=seed)
    assert pair.delta == pytest.approx((c - b) / (a + b + c + d))
    assert pair.delta == pytest.approx(var.mean() - ref.mean())
    assert pair.low <= pair.delta <= pair.high
    assert (pair.n_fp32_only, pair.n_variant_only) == (b, c) and pair.n == ref.size
    assert 0.0 <= pair.p_mcnemar <= 1.0
    nc = pa_.newcombe_paired(a, b, c, d)
    assert nc.low <= nc.estimate <= nc.high and nc.estimate == pytest.approx(pair.delta)


@given(st.lists(st.booleans(), min_size=1, max_size=300), st.integers(0, 1000))
def test_identical_predictions_give_a_zero_width_interval_and_p_one(correct, seed):
    pair = pa_.paired_delta(correct, correct, n_boot=200, seed=seed)
    assert (pair.delta, pair.low, pair.high, pair.p_mcnemar) == (0.0, 0.0, 0.0, 1.0)
    assert (pair.n_fp32_only, pair.n_variant_only) == (0, 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 25), st.integers(0, 25), st.integers(0, 1000))
def test_the_interval_widens_with_disagreement_at_equal_accuracies(b, c, seed):
    """The same accuracies (c - b fixed), more sentences on which the two disagree: a wider interval."""
    extra = max(b, c) + 30  # at least doubles the discordant sentences
    narrow = pa_.paired_delta(*table(700, b, c, N - 700 - b - c, seed), n_boot=2000, seed=seed)
    wide = pa_.paired_delta(*table(700 - extra, b + extra, c + extra, N - 700 - b - c - extra, seed), seed=seed)
    assert narrow.delta == pytest.approx(wide.delta)
    assert wide.high - wide.low > narrow.high - narrow.low
    nc_narrow = pa_.newcombe_paired(700, b, c, N - 700 - b - c)
    nc_wide = pa_.newcombe_paired(700 - extra, b + extra, c + extra, N - 700 - b - c - extra)
    assert nc_wide.high - nc_wide.low > nc_narrow.high - nc_narrow.low


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 20), st.integers(0, 20), st.integers(0, 1000))
def test_paired_is_tighter_than_unpaired_when_the_predictions_mostly_agree(b, c, seed):
    """At most 40 of 872 sentences answered differently: the paired interval is narrower than the one
    that treats the two accuracies as independent samples (the per-variant bootstraps combined)."""
    from greenbench.analysis.stats import bootstrap_ci

    ref, var = table(760 - b, b, c, N - 760 - c, seed)
    pair = pa_.paired_delta(ref, var, seed=seed)
    half = [(ci.high - ci.low) / 2 for ci in (bootstrap_ci(x.astype(float), seed=seed) for x in (ref, var))]
    unpaired_width = 2 * np.hypot(*half)
    assert pair.high - pair.low < 0.6 * unpaired_width


@pytest.mark.parametrize(
    "b, c",
    [(10, 10), (25, 12), (40, 20), (60, 58), (80, 30), (5, 25)],
)
def test_the_paired_bootstrap_agrees_with_newcombes_score_interval(b, c):
    """The chosen interval (paired bootstrap over sentences) against the exact-style alternative on the
    discordance the study sees: ends within 0.4 points, widths within 20%."""
    a = 740 - b
    d = N - a - b - c
    boot = pa_.paired_delta(*table(a, b, c, d), n_boot=4000, seed=1)
    nc = pa_.newcombe_paired(a, b, c, d)
    assert abs(boot.low - nc.low) < 0.004 and abs(boot.high - nc.high) < 0.004
    assert (boot.high - boot.low) == pytest.approx(nc.high - nc.low, rel=0.2)


def test_newcombe_known_values():
    """Fagerland, Lydersen and Laake, "Statistical Analysis of Contingency Tables" (2017), chapter 8:
    Cavo et al. (2012), table [[59, 6], [16, 80]]: p1 - p2 = -0.0621, Newcombe square-and-add 95% CI
    (-0.1186, -0.0046). Ours is the variant (second) minus the reference (first)."""
    ci = pa_.newcombe_paired(59, 6, 16, 80)
    assert ci.estimate == pytest.approx(10 / 161)
    assert ci.low == pytest.approx(0.0046, abs=1e-4) and ci.high == pytest.approx(0.1186, abs=1e-4)


def test_mcnemar_exact_values():
    from scipy.stats import binomtest

    assert pa_.mcnemar_exact(0, 0) == 1.0
    assert pa_.mcnemar_exact(0, 6) == pytest.approx(2 * 0.5**6)
    for b, c in ((3, 9), (20, 5), (12, 12), (0, 1)):
        assert pa_.mcnemar_exact(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue)
        assert pa_.mcnemar_exact(b, c) == pa_.mcnemar_exact(c, b)
    with pytest.raises(ValueError):
        pa_.mcnemar_exact(-1, 2)


def _preds(idx, label, prediction):
    return pd.DataFrame({"idx": idx, "label": label, "prediction": prediction})


def test_predictions_are_aligned_by_sentence_index_and_different_sentence_sets_fail():
    ref = _preds([0, 1, 2, 3], [1, 0, 1, 0], [1, 0, 0, 0])
    shuffled = _preds([3, 2, 1, 0], [0, 1, 0, 1], [1, 1, 0, 1])  # wrong on idx 3, right on 2
    r, v = pa_.aligned_correct(ref, shuffled)
    assert r.tolist() == [True, True, False, True] and v.tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match="different sentences"):
        pa_.aligned_correct(ref, _preds([0, 1, 2, 5], [1, 0, 1, 0], [1, 0, 1, 0]), "cpu/m/bf16")
    with pytest.raises(ValueError, match="repeat"):
        pa_.aligned_correct(ref, _preds([0, 1, 1, 3], [1, 0, 0, 0], [1, 0, 0, 0]))
    with pytest.raises(ValueError, match="labels differ"):
        pa_.aligned_correct(ref, _preds([0, 1, 2, 3], [0, 0, 1, 0], [1, 0, 1, 0]))


def _write_eval(path, variant, correct, status="ok"):
    from greenbench.core import io
    from greenbench.measure.accuracy import PREDICTIONS_SCHEMA

    n = len(correct)
    label = np.arange(n) % 2
    df = pd.DataFrame(
        {
            "idx": np.arange(n, dtype=np.int32)[::-1],  # files need not be in sentence order
            "label": label[::-1].astype(np.int8),
            "prediction": np.where(correct, label, 1 - label)[::-1].astype(np.int8),
            "confidence": np.float32(0.9),
            "length": np.int32(10),
            "route": np.int8(-1),
        }
    )
    if status != "ok":
        df = df.iloc[0:0]
    meta = {"device": "cpu", "model": "m", "variant": variant, "status": status, "compute": {}}
    io.write_parquet(df, path, PREDICTIONS_SCHEMA, meta)
    return path


def test_the_accuracy_table_holds_the_paired_difference_mcnemar_and_discordant_counts(tmp_path):
    from greenbench.analysis.summaries import ACCURACY_SCHEMA, accuracy_stats

    ref, var = table(700, 30, 12, N - 742)
    files = [
        _write_eval(tmp_path / "fp32.parquet", "fp32", ref),
        _write_eval(tmp_path / "int8.parquet", "int8_dynamic", var),
        _write_eval(tmp_path / "same.parquet", "fp32@onnxruntime", ref),
        _write_eval(tmp_path / "tf32.parquet", "tf32", ref, status="not_applicable"),
    ]
    raw = accuracy_stats(files, n_boot=500, level=0.95, seed=3)
    assert list(raw.columns) == ACCURACY_SCHEMA.names
    acc = raw.set_index("variant")
    int8 = acc.loc["int8_dynamic"]
    assert int8.delta_vs_fp32 == pytest.approx(-18 / N)
    assert int8.delta_ci_low < int8.delta_vs_fp32 < int8.delta_ci_high < 0  # 30 vs 12: significant
    assert (int8.n_fp32_only, int8.n_variant_only) == (30, 12)
    assert int8.mcnemar_p == pytest.approx(pa_.mcnemar_exact(30, 12)) and int8.mcnemar_p < 0.05
    # tighter than the per-variant intervals it replaces
    assert int8.delta_ci_high - int8.delta_ci_low < 0.7 * (int8.ci_high - int8.ci_low)
    for v in ("fp32", "fp32@onnxruntime"):
        row = acc.loc[v]
        assert (row.delta_vs_fp32, row.delta_ci_low, row.delta_ci_high, row.mcnemar_p) == (0, 0, 0, 1)
    assert np.isnan(acc.loc["tf32"].delta_vs_fp32) and pd.isna(acc.loc["tf32"].n_fp32_only)
    # written with its schema (nullable counts)
    from greenbench.core import io

    io.write_parquet(raw, tmp_path / "accuracy.parquet", ACCURACY_SCHEMA)
    assert io.read_parquet(tmp_path / "accuracy.parquet").set_index("variant").loc["int8_dynamic", "n_fp32_only"] == 30


def test_the_accuracy_table_fails_clearly_when_a_variant_saw_other_sentences(tmp_path):
    from greenbench.analysis.summaries import accuracy_stats

    ref, _ = table(700, 30, 12, N - 742)
    files = [
        _write_eval(tmp_path / "fp32.parquet", "fp32", ref),
        _write_eval(tmp_path / "short.parquet", "bf16", ref[:-5]),
    ]
    with pytest.raises(ValueError, match="short.parquet.*different sentences"):
        accuracy_stats(files, n_boot=100, level=0.95, seed=0)


def test_the_uncertain_front_uses_paired_intervals_and_fp32_is_exact():
    """Three variants whose per-variant accuracy intervals (±2.2 points) all overlap: unpaired, nothing is
    clearly dominated; paired against fp32, a variant clearly less accurate *and* clearly costlier than
    another leaves the uncertain front, as does one answering exactly like fp32 at a clearly higher cost."""
    from greenbench.analysis.fronts import compute_fronts

    cell = {"device": "cpu", "model": "m", "batch_size": 8, "padding": "dynamic", "mode": "eager"}
    variants = {  # accuracy, paired delta interval, J, J ratio interval
        "fp32": (0.880, (0.0, 0.0, 0.0), 1.00, None),
        "int8_dynamic": (0.876, (-0.004, -0.008, -0.001), 0.50, (0.50, 0.47, 0.53)),
        "bf16": (0.860, (-0.020, -0.026, -0.012), 0.60, (0.60, 0.57, 0.63)),
        "fp32@onnxruntime": (0.880, (0.0, 0.0, 0.0), 1.20, (1.20, 1.12, 1.28)),
    }
    accuracy = pd.DataFrame(
        [
            dict(
                device="cpu",
                model="m",
                variant=v,
                status="ok",
                accuracy=a,
                ci_low=a - 0.022,
                ci_high=a + 0.021,
                delta_vs_fp32=d[0],
                delta_ci_low=d[1],
                delta_ci_high=d[2],
            )
            for v, (a, d, _, _) in variants.items()
        ]
    )
    energy = pd.DataFrame(
        [
            dict(cell, variant=v, metric="j_per_inf_gross", mean=j, ci_low=0.9 * j, ci_high=1.1 * j, energy_label="x")
            for v, (_, _, j, _) in variants.items()
        ]
    )
    ratios = pd.DataFrame(
        [
            dict(cell, variant=v, metric="j_per_inf_gross", ratio=r[0], ci_low=r[1], ci_high=r[2])
            for v, (_, _, _, r) in variants.items()
            if r is not None
        ]
    )
    unpaired, _ = compute_fronts(accuracy.drop(columns=["delta_ci_low", "delta_ci_high"]), energy)
    paired, _ = compute_fronts(accuracy, energy, ratios)
    pick = lambda pts: pts[pts.objectives == "accuracy-energy"].set_index("variant")  # noqa: E731
    u, p = pick(unpaired), pick(paired)
    assert u.on_uncertain_front.all()  # no paired interval: every point unbounded, nothing removed
    assert p.on_uncertain_front.to_dict() == {
        "fp32": True,
        "int8_dynamic": True,
        "bf16": False,  # int8 is clearly more accurate and clearly cheaper
        "fp32@onnxruntime": False,  # the same answers as fp32, clearly more energy
    }
    assert p.on_front.to_dict() == u.on_front.to_dict()  # the point-estimate front is unchanged
    assert p.loc["fp32", ["j_ratio", "j_ratio_low", "j_ratio_high"]].tolist() == [1.0, 1.0, 1.0]
    assert p.loc["bf16", "delta_ci_low"] == -0.026 and p.loc["bf16", "j_ratio_high"] == 0.63
    # the paired front never drops a point of the plain front
    assert not (p.on_front & ~p.on_uncertain_front).any()
    lo = np.array([[-0.018, 0.57]])
    assert pareto.uncertain_front(lo, lo, [1, -1]).all()
