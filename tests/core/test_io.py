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
