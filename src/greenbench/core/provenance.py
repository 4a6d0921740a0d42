"""Where a number came from: code version, config hash, library versions, host."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import greenbench
from greenbench.core import host

_PACKAGES = ("torch", "transformers", "numpy", "pandas", "pyarrow")
# recorded by distribution metadata only, never imported (torchao loads native libraries on import);
# key -> distributions that provide it, first installed wins (onnxruntime-gpu installs module onnxruntime)
_OPTIONAL = {
    "torchao": ("torchao",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "nvidia-ml-py": ("nvidia-ml-py",),  # module pynvml
    "triton": ("triton", "pytorch-triton"),
}


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The greenbench checkout's commit (``+dirty`` when modified), or ``unknown``."""
    if os.environ.get("GREENBENCH_GIT_COMMIT"):
        return os.environ["GREENBENCH_GIT_COMMIT"]
    root = Path(greenbench.__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def versions() -> dict[str, str]:
    out = {"greenbench": greenbench.__version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    for key, distributions in _OPTIONAL.items():
        out[key] = "absent"
        for distribution in distributions:
            try:
                out[key] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def collect(config: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Provenance record stored beside every output: code, config, libraries and the host (its name,
    and its fingerprint and class, ``greenbench.core.host``; ``threads=`` in ``extra`` is the threads used)."""
    threads = extra.get("threads")
    fingerprint = host.fingerprint(threads if isinstance(threads, int) else None)
    record: dict[str, Any] = {
        "git_commit": git_commit(),
        "versions": versions(),
        "host": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "host_fingerprint": fingerprint,
        "host_class": host.host_class(fingerprint),
    }
    if config is not None:
        record["config_hash"] = config_hash(config)
    record.update(extra)
    return record
