"""benchmarks/compare_runs.py: the check that a refactor kept a run's outputs (same tables and schemas,
bit-identical predictions) says so, and names what differs when it does not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("compare_runs", ROOT / "benchmarks" / "compare_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(root: Path, prediction: int = 1, extra: bool = False) -> Path:
    (root / "eval" / "cpu").mkdir(parents=True)
    (root / "stats").mkdir()
    pd.DataFrame({"idx": [0, 1], "prediction": [0, prediction], "confidence": [0.9, 0.8]}).to_parquet(
        root / "eval" / "cpu" / "fp32.parquet"
    )
    pd.DataFrame({"metric": ["x"], "mean": [1.0]}).to_parquet(root / "stats" / "energy.parquet")
    if extra:
        pd.DataFrame({"a": [1]}).to_parquet(root / "stats" / "new.parquet")
    return root


def test_same_runs_pass_and_a_changed_prediction_or_table_is_named(tmp_path):
    compare = _tool().compare
    before = _run(tmp_path / "before")
    assert compare(before, _run(tmp_path / "same")) == []
    assert compare(before, _run(tmp_path / "flipped", prediction=0)) == ["predictions differ: eval/cpu/fp32.parquet"]
    assert compare(before, _run(tmp_path / "more", extra=True)) == [f"only in {tmp_path / 'more'}: stats/new.parquet"]
