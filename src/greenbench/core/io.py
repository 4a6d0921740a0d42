"""Parquet and file I/O: explicit schemas, atomic writes, deterministic row order."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"greenbench"


TMP_SUFFIX = ".tmp"  # every atomic writer's temporary is ``.<name>.<random><suffix>.tmp`` beside its target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _as_umask_allows(path: Path, directory: bool = False) -> None:
    """``mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask; an output is made as ``open``/``mkdir``
    would make it (0666/0777 less the umask), so a shared project folder on a cluster can read it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    _as_umask_allows(Path(name))
    return Path(name)


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` is an atomic writer's temporary (a leftover, when no writer is running)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TMP_SUFFIX) and name.count(".") >= 3


def sweep_temporaries(root: str | Path) -> list[Path]:
    """Remove the atomic writers' temporaries under ``root`` that a killed job left behind (call it only when
    no job writes under ``root``: a run's start, under Snakemake's lock); returns what was removed."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = sorted((p for p in root.rglob("*") if is_temporary(p)), key=lambda p: len(p.parts))
    removed: list[Path] = []
    for path in found:
        if any(parent in removed for parent in path.parents):
            continue  # inside a temporary folder already removed
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_file(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` that replaces it only if the block succeeds."""
    path = Path(path)
    tmp = _tmp_sibling(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(
    df: pd.DataFrame,
    path: str | Path,
    schema: pa.Schema,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``df`` with exactly ``schema``'s columns and types, atomically.

    Missing columns are an error (never filled silently); extra columns are an error too.
    ``metadata`` is stored as JSON under the ``greenbench`` key of the file's schema metadata.
    """
    path = Path(path)
    missing = [f.name for f in schema if f.name not in df.columns]
    extra = [c for c in df.columns if c not in schema.names]
    if missing or extra:
        raise ValueError(f"{path}: columns do not match schema (missing={missing}, unexpected={extra})")
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    if metadata is not None:
        meta = dict(table.schema.metadata or {})
        meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_file(path, ".parquet") as tmp:
        pq.write_table(table, tmp)
    return path


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Parquet file (has the upstream stage run?)")
    return pq.read_table(path, columns=columns).to_pandas()


def read_metadata(path: str | Path) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def write_json(obj: Any, path: str | Path) -> Path:
    with atomic_file(path, ".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return Path(path)


def write_text(text: str, path: str | Path) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def copy_file(src: str | Path, dst: str | Path) -> Path:
    with atomic_file(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent))
    _as_umask_allows(tmp, directory=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
