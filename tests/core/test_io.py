import pandas as pd
import pyarrow as pa
import pytest

from greenbench.core import io

SCHEMA = pa.schema([pa.field("a", pa.int32()), pa.field("b", pa.string())])


def test_roundtrip_with_metadata(tmp_path):
    path = io.write_parquet(pd.DataFrame({"b": ["x", "y"], "a": [1, 2]}), tmp_path / "t.parquet", SCHEMA, {"k": 1})
    df = io.read_parquet(path)
    assert list(df.columns) == ["a", "b"] and df.a.tolist() == [1, 2]
    assert io.read_metadata(path) == {"k": 1}


@pytest.mark.parametrize("frame", [pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1], "b": ["x"], "c": [0]})])
def test_schema_mismatch_is_an_error(tmp_path, frame):
    with pytest.raises(ValueError, match="columns do not match"):
        io.write_parquet(frame, tmp_path / "t.parquet", SCHEMA)
    assert not list(tmp_path.iterdir())


def test_atomic_directory_keeps_old_output_on_failure(tmp_path):
    target = tmp_path / "model"
    with io.atomic_directory(target) as tmp:
        (tmp / "f").write_text("v1")
    with pytest.raises(RuntimeError):
        with io.atomic_directory(target) as tmp:
            (tmp / "f").write_text("v2")
            raise RuntimeError("boom")
    assert (target / "f").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_missing_parquet_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        io.read_parquet(tmp_path / "nope.parquet")


def test_atomic_writers_leave_no_temporary_behind_on_success(tmp_path):
    target = tmp_path / "forecaster"
    for version in ("v1", "v2"):  # first write, then a replacement of an existing folder
        with io.atomic_directory(target) as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "ridge.pkl").write_text(version)
    io.write_parquet(pd.DataFrame({"a": [1], "b": ["x"]}), tmp_path / "t.parquet", SCHEMA)
    io.write_parquet(pd.DataFrame({"a": [2], "b": ["y"]}), tmp_path / "t.parquet", SCHEMA)
    with io.atomic_file(tmp_path / "f.txt") as tmp:
        tmp.write_text("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt", "forecaster", "t.parquet"]
    assert (target / "sub" / "ridge.pkl").read_text() == "v2" and not list(tmp_path.rglob("*.tmp"))


def test_no_temporary_file_is_under_version_control():
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert tracked and not [
        f for f in tracked if ".tmp" in Path(f).name or any(part.endswith(".tmp") for part in Path(f).parts)
    ]


def test_outputs_get_the_permissions_the_umask_allows_not_mkstemps_0600(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        io.write_text("x", tmp_path / "a.txt")
        with io.atomic_directory(tmp_path / "d") as d:
            (d / "f").write_text("y")
        os.umask(0o077)
        io.write_text("x", tmp_path / "private.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "private.txt").stat().st_mode) == 0o600


def test_a_run_sweeps_the_temporaries_killed_jobs_left_and_nothing_else(tmp_path):
    root = tmp_path / "results"
    (root / "carbon" / ".forecaster.k2j3.tmp" / "inner").mkdir(parents=True)
    (root / "carbon" / ".forecaster.k2j3.tmp" / "inner" / "w.pt").write_text("half")
    (root / "figures").mkdir()
    (root / "figures" / ".difficulty_by_length.png.abc123.png.tmp").write_text("half")
    keep = [root / "figures" / "difficulty_by_length.png", root / "stats" / "energy.parquet", root / ".snakemake_note"]
    for path in keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("whole")
    swept = io.sweep_temporaries(root)
    assert sorted(p.name for p in swept) == [".difficulty_by_length.png.abc123.png.tmp", ".forecaster.k2j3.tmp"]
    assert all(p.exists() for p in keep) and not any(io.is_temporary(p) for p in root.rglob("*"))
    assert io.sweep_temporaries(tmp_path / "absent") == []
