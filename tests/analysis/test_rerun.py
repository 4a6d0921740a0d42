"""Rerun variance (greenbench.analysis.rerun, benchmarks/rerun_variance.py): two runs' J/inference per
cell compared, the shift measured in % and in the first run's half-widths, the answer's move reported
against the first run's interval; on synthetic stats frames."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenbench.analysis import rerun
from greenbench.analysis.summaries import ENERGY_STATS_SCHEMA
from greenbench.core import io

ROOT = Path(__file__).resolve().parents[2]
finite = st.floats(0.001, 1e3, allow_nan=False)


@given(finite, finite, finite)
def test_an_interval_holds_a_value_exactly_when_its_position_is_inside(a, b, v):
    low, high = min(a, b), max(a, b)
    assert (rerun.position(v, low, high) == "inside") == (low <= v <= high)
    assert rerun.overlap(low, high, v, v) == (low <= v <= high)  # a point interval overlaps iff it is inside
    assert rerun.overlap(low, high, low, high)


@given(finite, finite, st.floats(0.001, 10))
def test_shifts_are_relative_to_the_first_run(m1, m2, half):
    assert rerun.relative_shift_pct(m1, m2) == pytest.approx(100 * (m2 / m1 - 1))
    assert rerun.relative_shift_pct(m1, m1) == 0
    h = rerun.half_widths(m1, m1 - half, m1 + half, m2)
    assert h == pytest.approx((m2 - m1) / half)
    # inside a symmetric interval exactly when at most one half-width away
    assert (abs(h) <= 1 + 1e-9) == (rerun.position(m2, m1 - half, m1 + half) == "inside") or math.isclose(abs(h), 1)
    assert math.isnan(rerun.half_widths(m1, m1, m1, m2)) and math.isnan(rerun.relative_shift_pct(0.0, m2))


def _stats(values: dict, metric: str = "j_per_inf_gross") -> pd.DataFrame:
    """values: (variant, batch) -> (mean, half-width) at cpu/minilm, dynamic padding, eager."""
    rows = []
    for (variant, batch), (mean, half) in values.items():
        for m, scale in ((metric, 1.0), ("latency_p50_ms", 100.0)):
            rows.append(
                {
                    "device": "cpu",
                    "model": "minilm",
                    "variant": variant,
                    "recipe": variant,
                    "runtime": "eager",
                    "batch_size": batch,
                    "padding": "dynamic",
                    "mode": "eager",
                    "metric": m,
                    "n_trials": 3,
                    "mean": scale * mean,
                    "sd": half,
                    "ci_low": scale * (mean - half),
                    "ci_high": scale * (mean + half),
                    "cv": 0.01,
                    "energy_label": "measured",
                }
            )
    return pd.DataFrame(rows, columns=ENERGY_STATS_SCHEMA.names)


FIRST = {("fp32", 8): (0.100, 0.002), ("int8_dynamic", 8): (0.050, 0.001), ("bf16", 8): (0.080, 0.004)}
SECOND = {
    ("fp32", 8): (0.101, 0.002),  # +1%: inside the first interval (half a half-width)
    ("int8_dynamic", 8): (0.056, 0.001),  # +12%: outside, disjoint, and no longer the lowest
    ("bf16", 8): (0.054, 0.004),  # -32.5%: the new lowest cell
    ("spiking", 8): (0.3, 0.01),  # only in the second run
}


def test_cells_compare_with_shifts_positions_and_overlaps():
    t = rerun.compare_cells(_stats(FIRST), _stats(SECOND)).set_index("variant")
    assert list(t.index) == ["bf16", "fp32", "int8_dynamic"]  # both runs' cells, in cell order
    assert t.loc["fp32", "shift_pct"] == pytest.approx(1.0) and t.loc["fp32", "shift_half_widths"] == pytest.approx(0.5)
    assert t.loc["fp32", "second_in_first"] and t.loc["fp32", "overlap"]
    assert t.loc["int8_dynamic", "shift_pct"] == pytest.approx(12.0)
    assert t.loc["int8_dynamic", "shift_half_widths"] == pytest.approx(6.0)
    assert not t.loc["int8_dynamic", "second_in_first"] and not t.loc["int8_dynamic", "overlap"]
    assert t.loc["bf16", "low_1"] == pytest.approx(0.076) and t.loc["bf16", "high_2"] == pytest.approx(0.058)
    s = rerun.summary(t.reset_index(), only_second=1)
    assert s["cells"] == 3 and s["only_second"] == 1
    assert s["median_abs_shift_pct"] == pytest.approx(12.0) and s["max_abs_shift_pct"] == pytest.approx(32.5)
    assert s["max_cell"] == "cpu/minilm/bf16 b8 dynamic eager"
    assert s["outside_share"] == pytest.approx(2 / 3) and s["disjoint_share"] == pytest.approx(2 / 3)


def test_the_answer_falls_back_to_the_lowest_cell_both_runs_measured_and_says_where_it_lands():
    t = rerun.compare_cells(_stats(FIRST), _stats(SECOND))
    a1, a2 = rerun.lowest_cells(t, "1"), rerun.lowest_cells(t, "2")
    assert list(a1.variant) == ["int8_dynamic"] and list(a2.variant) == ["bf16"]  # spiking: one run only
    moves = rerun.answer_moves(a1, a2, t).iloc[0]
    assert not moves.same_cell and moves.second_cell == "bf16 b8 dynamic eager"
    assert moves.second_vs_first_interval == "above"  # 0.054 against [0.049, 0.051]
    assert moves.answer_shift_pct == pytest.approx(8.0)
    assert moves.first_cell_rerun_j == pytest.approx(0.056) and moves.first_cell_rerun_vs_interval == "above"


def _run(root: Path, values: dict, answer: dict | None = None) -> Path:
    (root / "stats").mkdir(parents=True)
    io.write_parquet(_stats(values), root / "stats" / "energy.parquet", ENERGY_STATS_SCHEMA)
    if answer is not None:
        pd.DataFrame([answer]).to_parquet(root / "stats" / "answer.parquet")
    return root


def _answer(variant, j, half):
    cell = {"device": "cpu", "model": "minilm", "variant": variant, "batch_size": 8, "padding": "dynamic"}
    return {**cell, "mode": "eager", "j_per_inf": j, "j_low": j - half, "j_high": j + half}


def test_the_report_reads_each_runs_answer_table_when_both_have_one(tmp_path):
    first = _run(tmp_path / "run1", FIRST, _answer("fp32", 0.100, 0.002))
    second = _run(tmp_path / "run2", SECOND, _answer("fp32", 0.101, 0.002))
    stats = rerun.write_report(first, second, tmp_path / "out")
    assert stats["answer_source"] == "each run's stats/answer.parquet" and stats["cells"] == 3
    answer = pd.read_csv(tmp_path / "out" / "rerun_answer.csv").iloc[0]
    assert answer.same_cell and answer.second_vs_first_interval == "inside"
    md = (tmp_path / "out" / "rerun.md").read_text()
    assert "inside (+1.0%)" in md and "| cpu/minilm/int8_dynamic b8 dynamic eager |" in md
    assert "only in the first run: 0, only in the second: 1" in md
    cells = pd.read_csv(tmp_path / "out" / "rerun_cells.csv")
    assert len(cells) == 3 and {"shift_pct", "shift_half_widths", "second_in_first", "overlap"} <= set(cells)


def test_the_command_line_writes_the_report_and_falls_back_without_answer_tables(tmp_path):
    spec = importlib.util.spec_from_file_location("rerun_variance", ROOT / "benchmarks" / "rerun_variance.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    first = _run(tmp_path / "a" / "results", FIRST)
    second = _run(tmp_path / "b" / "results", SECOND, _answer("fp32", 0.101, 0.002))  # one answer table only
    assert tool.main([str(first), str(second), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "rerun.md").read_text()
    assert "lowest-J/inference cell both runs measured" in md and "above (+8.0%)" in md
    with pytest.raises(FileNotFoundError, match="stats/energy.parquet"):
        tool.main([str(tmp_path), str(second), "--out", str(tmp_path / "x")])


def _ratios(values: dict) -> pd.DataFrame:
    """values: (variant, batch) -> (ratio, half-width) to fp32."""
    rows = [
        {
            "device": "cpu",
            "model": "minilm",
            "variant": v,
            "recipe": v,
            "runtime": "eager",
            "batch_size": b,
            "padding": "dynamic",
            "mode": "eager",
            "metric": "j_per_inf_gross",
            "baseline": "fp32",
            "n_pairs": 3,
            "ratio": r,
            "ci_low": r - h,
            "ci_high": r + h,
            "energy_label": "measured",
        }
        for (v, b), (r, h) in values.items()
    ]
    return pd.DataFrame(rows)


def test_a_drift_that_moves_every_cell_alike_moves_no_ratio_and_the_report_says_so(tmp_path):
    """Every cell 15% lower in the second run (host drift): J/inference leaves its interval everywhere, the
    paired ratios to fp32 stay inside theirs."""
    first = _run(tmp_path / "run1", FIRST)
    second = _run(tmp_path / "run2", {k: (0.85 * m, h) for k, (m, h) in FIRST.items()})
    for root in (first, second):
        _ratios({("int8_dynamic", 8): (0.5, 0.02), ("bf16", 8): (0.8, 0.03)}).to_parquet(
            root / "stats" / "ratios.parquet"
        )
    stats = rerun.write_report(first, second, tmp_path / "out")
    assert stats["median_abs_shift_pct"] == pytest.approx(15.0) and stats["outside_share"] == 1.0
    assert stats["ratios"]["cells"] == 2 and stats["ratios"]["max_abs_shift_pct"] == pytest.approx(0.0)
    assert stats["ratios"]["outside_share"] == 0.0
    md = (tmp_path / "out" / "rerun.md").read_text()
    assert "## Ratios to fp32: does the ordering move?" in md and "outside the first ratio's interval: 0%" in md
    assert len(pd.read_csv(tmp_path / "out" / "rerun_ratios.csv")) == 2
