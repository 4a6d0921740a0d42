"""Support for the Snakefile: make the library importable in every job."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def use_source_tree(src: str | Path) -> None:
    """Put ``src`` first on this process's path and on jobs' PYTHONPATH (also under --sdm conda)."""
    src = str(Path(src).resolve())
    if src not in sys.path:
        sys.path.insert(0, src)
    current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *current])


def optional_input(value) -> str | None:
    """A Snakemake input that is absent, empty, a path, or a one-element list -> path or None."""
    if value is None or isinstance(value, str):
        return value or None
    items = list(value)
    if len(items) > 1:
        raise ValueError(f"expected at most one input, got {items}")
    return items[0] if items else None
