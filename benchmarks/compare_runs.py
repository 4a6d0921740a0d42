"""Are two runs' outputs the same? Every Parquet table under ``BEFORE`` and ``AFTER`` (two ``results/``
folders) with its schema, and every evaluation table (per-sentence predictions) column by column.

    python benchmarks/compare_runs.py BEFORE/results AFTER/results

Exit status 0 only when both hold the same tables, every schema is equal (metadata aside: it carries the
commit, the host and the time) and every evaluation table is bit-identical. How a refactor is checked to
keep behaviour identical (e.g. the smoke study before and after a move, on one host).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq


def compare(before: Path, after: Path) -> list[str]:
    problems = []
    fa = {p.relative_to(before) for p in before.rglob("*.parquet")}
    fb = {p.relative_to(after) for p in after.rglob("*.parquet")}
    problems += [f"only in {before}: {p}" for p in sorted(fa - fb)] + [f"only in {after}: {p}" for p in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        if not pq.read_schema(before / rel).remove_metadata().equals(pq.read_schema(after / rel).remove_metadata()):
            problems.append(f"schema differs: {rel}")
    evals = [r for r in sorted(fa & fb) if r.parts[0] == "eval" and r.name != "summary.parquet"]
    for rel in evals:
        if not pq.read_table(before / rel).to_pandas().equals(pq.read_table(after / rel).to_pandas()):
            problems.append(f"predictions differ: {rel}")
    print(f"{len(fa & fb)} tables in both, {len(evals)} evaluation tables compared column by column")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) or "same tables, same schemas, bit-identical predictions")
    sys.exit(1 if found else 0)
