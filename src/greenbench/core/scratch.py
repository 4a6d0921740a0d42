"""One scratch folder per workflow run for the jobs' temporary files.

Compilers and exporters write large temporaries (inductor's kernel caches, AOTInductor's build tree, g++
objects, ONNX exports) to the system temp folder; a job killed mid-build leaves them behind for good. The
workflow therefore names one folder per project (``run_folder``: in the system temp, named after the
project, never under ``results/``, so a compiler's command line never carries the project's path, which
may hold spaces) and hands it to every job through ``GREENBENCH_SCRATCH``. A job's temporaries go there
(``job_temp`` points ``TMPDIR`` and Python's ``tempfile`` at it); the workflow removes the folder when a
run starts (what killed jobs left) and when it ends (success or a failed job). Jobs of one run share it, so an inductor cache
filled by one build serves the next. Outside a workflow (the CLI, tests) nothing changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

ENV = "GREENBENCH_SCRATCH"


def run_folder(project: str | Path, temp_root: str | Path | None = None) -> Path:
    """The scratch folder of the workflow run in ``project``: ``<temp>/greenbench-<name>-<hash>``, the
    project's folder name reduced to ASCII letters, digits, ``._-`` plus a hash of its absolute path (two
    clones never share one). A temp root whose path holds a space falls back to ``/tmp`` where that exists
    (compiler command lines do not quote it)."""
    project = Path(project).resolve()
    root = Path(temp_root) if temp_root is not None else Path(tempfile.gettempdir())
    if re.search(r"\s", str(root)) and Path("/tmp").is_dir():
        root = Path("/tmp")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", project.name).strip("_")[:40] or "project"
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:10]
    return root / f"greenbench-{name}-{digest}"


def clear(folder: str | Path) -> int:
    """Remove ``folder`` and what it holds; the number of bytes freed (0 where it did not exist)."""
    folder = Path(folder)
    if not folder.exists():
        return 0
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(folder, ignore_errors=True)
    return size


@contextlib.contextmanager
def job_temp() -> Iterator[Path | None]:
    """Within a workflow job (``GREENBENCH_SCRATCH`` set): ``TMPDIR`` and ``tempfile``'s folder point at
    the run's scratch for the job's duration (subprocesses such as g++ inherit it); yields that folder.
    Without the variable: changes nothing and yields None."""
    base = os.environ.get(ENV)
    if not base:
        yield None
        return
    folder = Path(base) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # recomputed from TMPDIR on next use
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
