"""Library versions recorded in every output's metadata, read without importing heavy modules."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from greenbench.core import provenance

OPTIONAL = ("torchao", "onnxruntime", "nvidia-ml-py", "triton")


def test_versions_record_the_accelerator_libraries():
    out = provenance.versions()
    assert {"greenbench", "python", "torch", "transformers", "numpy", "pandas", "pyarrow", *OPTIONAL} <= set(out)
    assert all(isinstance(v, str) and v for v in out.values())  # absent packages are "absent", like the others


def test_absent_packages_are_recorded_as_absent(monkeypatch):
    real = metadata.version

    def version(name):
        if name in ("torchao", "triton", "pytorch-triton"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(provenance.metadata, "version", version)
    out = provenance.versions()
    assert out["torchao"] == "absent" and out["triton"] == "absent"


def test_onnxruntime_gpu_distribution_counts_as_onnxruntime(monkeypatch):
    def version(name):
        if name == "onnxruntime-gpu":
            return "1.99.0"
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(provenance.metadata, "version", version)
    assert provenance.versions()["onnxruntime"] == "1.99.0"


def test_versions_do_not_import_the_libraries():
    # a fresh interpreter: this test process may already have imported them through other tests
    code = (
        "import sys; from greenbench.core import provenance; before = set(sys.modules); v = provenance.versions(); "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new & {'torchao', 'onnxruntime', 'pynvml', 'triton', 'torch'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_versions_leave_torchao_unimported_in_this_process():
    had = "torchao" in sys.modules
    provenance.versions()
    assert had or "torchao" not in sys.modules
