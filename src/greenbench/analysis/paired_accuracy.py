"""Paired accuracy: a variant against fp32 on the same sentences (pure functions, no I/O).

Every variant of a (device, model) is evaluated on the same SST-2 dev sentences, so its accuracy
difference to fp32 is a difference of *paired* proportions. Per sentence, ``d_i = variant correct -
fp32 correct`` is -1, 0 or +1, and only the discordant sentences (``b``: fp32 right and the variant
wrong; ``c``: the reverse) carry information about the difference ``(c - b) / n``. Separate
per-variant intervals (±2.2 points on 872 sentences) ignore that the two classifiers mostly agree;
the paired interval is several times tighter.

The interval is the **paired percentile bootstrap over sentences** (``paired_delta``): sentences are
resampled with replacement, each keeping both answers, and the mean of ``d`` is recomputed, with the
study's seed, resample count and level (``stats.bootstrap``, ``stats.confidence``), exactly as every
other bootstrap interval of the study. Chosen over Newcombe's hybrid score interval for paired
proportions (method 10, ``newcombe_paired``, kept here as the check) because (1) it is the study's one
interval machinery, so the accuracy and energy tables read alike; (2) it is exactly [0, 0] when the
variant answers every sentence as fp32 does (``fp32@onnxruntime``, a lossless compile): resampling
sentences cannot create a disagreement, and the Pareto front then treats the two as equal in
accuracy, as they are on this test set; Newcombe's interval keeps a width of about a point there,
covering disagreements a different sample of sentences might show; (3) for the discordant counts the
study sees (tens of sentences out of 872) the two agree to within a few tenths of a point
(tests/analysis/test_paired_accuracy.py checks it on synthetic data). Its known weakness is few
discordant sentences (a handful), where a percentile bootstrap is too narrow; there the **exact
McNemar test** (``mcnemar_exact``: two-sided binomial test of ``b`` against ``Binomial(b + c, 1/2)``),
reported beside the interval, is exact for any counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from greenbench.analysis.stats import Interval, bootstrap_ci


@dataclass(frozen=True)
class PairedDelta:
    """A variant's accuracy minus fp32's on the same ``n`` sentences (fractions, not points), its
    paired interval, the exact McNemar p-value and the discordant counts."""

    n: int
    delta: float
    low: float
    high: float
    p_mcnemar: float
    n_fp32_only: int  # sentences fp32 got right and the variant wrong
    n_variant_only: int  # sentences the variant got right and fp32 wrong


def discordant(reference_correct: Sequence[bool], variant_correct: Sequence[bool]) -> tuple[int, int]:
    """(b, c): sentences only the reference got right, and only the variant got right."""
    r, v = _booleans(reference_correct, variant_correct)
    return int(np.sum(r & ~v)), int(np.sum(~r & v))


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value: ``min(1, 2 P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``;
    1 with no discordant pair."""
    from scipy.stats import binom

    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(b, c), b + c, 0.5)))


def paired_delta(
    reference_correct: Sequence[bool],
    variant_correct: Sequence[bool],
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDelta:
    """Variant accuracy minus reference accuracy on the same sentences (aligned element by element),
    with the paired percentile bootstrap over sentences (see the module docstring) and McNemar's test."""
    r, v = _booleans(reference_correct, variant_correct)
    if r.size == 0:
        raise ValueError("a paired accuracy difference needs at least one sentence")
    b, c = discordant(r, v)
    ci = bootstrap_ci(v.astype(float) - r.astype(float), n_boot=n_boot, level=level, seed=seed)
    return PairedDelta(r.size, ci.estimate, ci.low, ci.high, mcnemar_exact(b, c), b, c)


def newcombe_paired(a: int, b: int, c: int, d: int, level: float = 0.95) -> Interval:
    """Newcombe's (1998) hybrid score interval (method 10: Wilson intervals without continuity correction,
    the phi correlation with his correction) for the paired
    difference ``p_variant - p_reference = (c - b) / n``, from the 2x2 table: ``a`` both right, ``b``
    only the reference right, ``c`` only the variant right, ``d`` both wrong. Wilson intervals of the
    two accuracies combined with the phi correlation of the table."""
    from scipy.stats import norm

    n = a + b + c + d
    if n <= 0 or min(a, b, c, d) < 0:
        raise ValueError(f"a 2x2 table of non-negative counts with n > 0 is needed, got {(a, b, c, d)}")
    z = float(norm.ppf(1 - (1 - level) / 2))
    p_ref, p_var = (a + b) / n, (a + c) / n
    l_ref, u_ref = wilson(a + b, n, z)
    l_var, u_var = wilson(a + c, n, z)
    # the table's phi correlation with Newcombe's correction: ad - bc shrunk by n/2 towards 0 when positive
    denom = float(a + b) * (c + d) * (a + c) * (b + d)
    cross = float(a * d - b * c)
    cross = max(cross - n / 2, 0.0) if cross >= 0 else cross
    phi = cross / np.sqrt(denom) if denom > 0 else 0.0
    # reference minus variant (Newcombe's theta), then turned around
    lower = np.sqrt((p_ref - l_ref) ** 2 - 2 * phi * (p_ref - l_ref) * (u_var - p_var) + (u_var - p_var) ** 2)
    upper = np.sqrt((u_ref - p_ref) ** 2 - 2 * phi * (u_ref - p_ref) * (p_var - l_var) + (p_var - l_var) ** 2)
    delta = p_var - p_ref
    return Interval(float(delta), float(max(-1.0, delta - upper)), float(min(1.0, delta + lower)))


def wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def aligned_correct(reference: pd.DataFrame, variant: pd.DataFrame, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Per-sentence correctness of two prediction tables (columns ``idx``, ``label``, ``prediction``),
    aligned by the sentence index ``idx``. Raises a ValueError naming ``what`` when the sentence sets
    differ, an index repeats, or the two tables disagree on a sentence's label."""
    for name, df in (("fp32", reference), ("variant", variant)):
        missing = {"idx", "label", "prediction"} - set(df.columns)
        if missing:
            raise ValueError(f"{what}: {name} predictions lack columns {sorted(missing)}")
        if df["idx"].duplicated().any():
            raise ValueError(f"{what}: {name} predictions repeat sentence indices")
    ref, var = reference.set_index("idx").sort_index(), variant.set_index("idx").sort_index()
    if not ref.index.equals(var.index):
        only_ref, only_var = ref.index.difference(var.index), var.index.difference(ref.index)
        raise ValueError(
            f"{what}: the variant and fp32 were evaluated on different sentences "
            f"({len(only_ref)} only in fp32's, {len(only_var)} only in the variant's; "
            f"e.g. idx {list(only_ref[:3]) + list(only_var[:3])}): paired accuracy needs the same sentences"
        )
    if not (ref["label"].to_numpy() == var["label"].to_numpy()).all():
        raise ValueError(f"{what}: the variant's and fp32's labels differ on some sentence indices")
    return (
        (ref["prediction"] == ref["label"]).to_numpy(bool),
        (var["prediction"] == var["label"]).to_numpy(bool),
    )


def _booleans(reference_correct, variant_correct) -> tuple[np.ndarray, np.ndarray]:
    r, v = np.asarray(reference_correct, dtype=bool), np.asarray(variant_correct, dtype=bool)
    if r.shape != v.shape or r.ndim != 1:
        raise ValueError(f"paired correctness needs two equal-length vectors, got {r.shape} and {v.shape}")
    return r, v
