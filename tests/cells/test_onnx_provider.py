"""ONNX Runtime on CUDA must never run on the CPU under a cuda label: a session that fell back to
CPUExecutionProvider is refused (not applicable, with the reason) before anything is measured."""

from __future__ import annotations

import dataclasses
import json

import pytest

from greenbench.core import io
from greenbench.data import models
from greenbench.cells import variants
from greenbench.cells.runtimes import runtime as rt_base
from greenbench.cells.runtimes import onnx as ort_runtime
from greenbench.cells.variants import NotApplicable
from conftest import padded_batch, toy_sentences

CUDA_FIRST = ["CUDAExecutionProvider", "CPUExecutionProvider"]


class FakeSession:
    def __init__(self, providers):
        self._providers = list(providers)

    def get_providers(self):
        return list(self._providers)


def test_cuda_fallback_to_cpu_is_refused_with_its_reason():
    reason = ort_runtime.check_providers(
        "cuda",
        FakeSession(["CPUExecutionProvider"]).get_providers(),
        CUDA_FIRST,
        ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    assert reason is not None
    assert reason.startswith("onnxruntime fell back to CPUExecutionProvider on cuda")
    assert "providers available: ['CUDAExecutionProvider', 'CPUExecutionProvider']" in reason
    assert "the CUDA execution provider could not load" in reason


@pytest.mark.parametrize("providers", [["CPUExecutionProvider", "CUDAExecutionProvider"], []])
def test_cuda_provider_must_be_present_and_first(providers):
    assert ort_runtime.check_providers("cuda", providers, CUDA_FIRST) is not None


@pytest.mark.parametrize(
    "providers",
    [
        CUDA_FIRST,
        ["CUDAExecutionProvider"],
        ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    ],
)
def test_a_gpu_provider_first_is_accepted_on_cuda(providers):
    assert ort_runtime.check_providers("cuda", FakeSession(providers).get_providers(), CUDA_FIRST) is None


def test_cpu_provider_is_accepted_on_cpu():
    assert ort_runtime.check_providers("cpu", ["CPUExecutionProvider"], ["CPUExecutionProvider"]) is None


def test_session_raises_not_applicable_when_cuda_falls_back(monkeypatch, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    made = []

    def fake(path, options=None, providers=None, **kwargs):
        made.append(providers)
        return FakeSession(["CPUExecutionProvider"])  # what ORT returns when the CUDA provider cannot load

    monkeypatch.setattr(ort, "InferenceSession", fake)
    with pytest.raises(NotApplicable, match="fell back to CPUExecutionProvider on cuda"):
        ort_runtime.session(tmp_path / "model.onnx", "cuda", threads=1)
    assert made == [CUDA_FIRST]  # CUDA was asked for, first

    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: FakeSession(CUDA_FIRST))
    assert ort_runtime.session(tmp_path / "model.onnx", "cuda", threads=1).get_providers() == CUDA_FIRST
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: FakeSession(["CPUExecutionProvider"]))
    assert ort_runtime.session(tmp_path / "model.onnx", "cpu", threads=1).get_providers() == ["CPUExecutionProvider"]


@pytest.fixture
def cuda_falls_back(monkeypatch):
    """A real ONNX Runtime session asked for CUDA that comes back CPU-only, as when the CUDA
    provider's libraries do not load; the fp32 recipe and sample batches kept on the CPU host."""
    ort = pytest.importorskip("onnxruntime")
    real = ort.InferenceSession

    def falls_back(path, options=None, providers=None, **kwargs):
        return real(path, options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", falls_back)
    fp32 = variants.get("fp32")
    monkeypatch.setitem(
        variants.REGISTRY,
        "fp32",
        dataclasses.replace(
            fp32,
            prepare=lambda model, device, artifact=None, params=None: variants.Prepared(model.float().eval(), device),
        ),
    )
    sample = rt_base.sample_batches
    monkeypatch.setattr(
        rt_base, "sample_batches", lambda tokens, model_dir, device, seed: sample(tokens, model_dir, "cpu", seed)
    )


def test_a_cuda_build_that_fell_back_is_a_not_applicable_cell(tiny_model_dir, tmp_path, cuda_falls_back):
    tokens = tmp_path / "train.parquet"
    df = models.tokenize_dataset(toy_sentences(24, 1), models.load_tokenizer(str(tiny_model_dir)), 32)
    io.write_parquet(df, tokens, models.TOKENS_SCHEMA, {})
    artifact = tmp_path / "variants" / "fp32@onnxruntime"
    report = variants.get("fp32@onnxruntime").build(tiny_model_dir, tokens, artifact, "cuda", {"runtime": {}}, 0, {})
    assert report["status"] == "not_applicable", report
    assert "fell back to CPUExecutionProvider on cuda" in report["reason"]
    status = json.loads((artifact / rt_base.STATUS_FILE).read_text())
    assert status["status"] == "not_applicable" and "could not load" in status["reason"]
    assert status["report"] == {}  # no check numbers: the graph never ran on the GPU
    # every later stage reads that verdict and records a refused row (evaluate, energy protocol)
    with pytest.raises(NotApplicable, match="fell back to CPUExecutionProvider"):
        variants.get("fp32@onnxruntime").prepare(
            models.load_classifier(str(tiny_model_dir)), "cuda", artifact, {"runtime": {}}
        )


def test_loading_a_built_graph_on_a_fallen_back_cuda_refuses(tiny_model_dir, tmp_path, cuda_falls_back):
    model = models.load_classifier(str(tiny_model_dir))
    ort_runtime._export(model, padded_batch(n=2, width=8), tmp_path / ort_runtime.MODEL_FILE, "torchscript")
    status = {"status": "ok", "report": {key: 1 for key in ort_runtime.RESIDENT_KEYS}}
    with pytest.raises(NotApplicable, match="on cuda"):
        ort_runtime._load(variants.Prepared(model, "cuda"), variants.get("fp32"), tmp_path, "cuda", {}, status)
    loaded = ort_runtime._load(variants.Prepared(model, "cpu"), variants.get("fp32"), tmp_path, "cpu", {}, status)
    assert loaded.session.get_providers() == ["CPUExecutionProvider"]
