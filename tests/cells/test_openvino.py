"""OpenVINO and static int8 on the runtime axis: built, evaluated and refused like every cell."""

from __future__ import annotations

import pytest

from greenbench.cells import variants
from greenbench.cells.runtimes import openvino as ov_runtime
from greenbench.cells.variants.recipe import NotApplicable
from greenbench.config import load as gconfig

from test_runtimes import _build_and_evaluate, _config, tokens  # noqa: F401  (the module's token fixture)

pytest.importorskip("openvino")


def test_fp32_at_openvino_runs_at_f32_exactly_and_matches_eager(tiny_model_dir, tokens, tmp_path):  # noqa: F811
    _, eager, eager_preds = _build_and_evaluate("fp32", tiny_model_dir, tokens, tmp_path)
    report, meta, preds = _build_and_evaluate("fp32@openvino", tiny_model_dir, tokens, tmp_path)
    assert report["status"] == "ok", report
    built = report["report"]
    assert built["precision"] == "f32" and built["precision_requested"] == "f32"  # never bf16 behind our back
    assert built["max_abs_logit_diff"] < 1e-4 and built["artifact_bytes"] > 0
    assert (preds.prediction.to_numpy() == eager_preds.prediction.to_numpy()).all()
    assert meta["runtime"] == "openvino" and meta["recipe"] == "fp32"
    assert meta["variant_info"]["openvino_precision"] == "f32"
    assert meta["linear_weight_bytes"] == pytest.approx(eager["linear_weight_bytes"], rel=0.05)


def test_int8_static_is_calibrated_on_train_and_smaller_under_both_runtimes(tiny_model_dir, tokens, tmp_path):  # noqa: F811
    _, fp32, _ = _build_and_evaluate("fp32@onnxruntime", tiny_model_dir, tokens, tmp_path)
    params = {"runtime": {"calibration_size": 16}}
    for name in ("int8_static@openvino", "int8_static@onnxruntime"):
        report, meta, preds = _build_and_evaluate(name, tiny_model_dir, tokens, tmp_path, params)
        assert report["status"] == "ok", (name, report)
        built = report["report"]
        assert built["calibration_sentences"] == 16 and "int8 static" in built["stages"][-1]
        assert built["int8_vs_fp32"]["sample_prediction_agreement"] >= 0.5
        assert meta["recipe"] == "int8_static" and len(preds) > 0
        assert meta["linear_weight_bytes"] < 0.5 * fp32["linear_weight_bytes"], (name, meta["linear_weight_bytes"])


def test_int8_static_in_eager_pytorch_is_refused_with_the_runtimes_that_run_it():
    with pytest.raises(NotApplicable, match="int8_static@onnxruntime or int8_static@openvino"):
        variants.get("int8_static").prepare(None, "cpu", None, {})


def test_openvino_refuses_what_it_cannot_run_before_any_work():
    assert "int8_static@openvino" in variants.get("int8_dynamic@openvino").applicability("cpu")
    assert "router" in variants.get("adaptive@openvino").applicability("cpu")
    assert variants.get("fp32@openvino").devices == ("cpu",)
    assert ov_runtime.precision_of("bf16") == "bf16" and ov_runtime.precision_of("prune_heads25") == "f32"


def test_a_study_can_list_openvino_and_static_int8_cells():
    cfg = gconfig.validate_config(
        _config(
            variants=["fp32", "int8_dynamic"],
            runtimes={"onnxruntime": ["fp32", "int8_static"], "openvino": ["fp32", "int8_static"]},
        )
    )
    assert [c for c in cfg["study"]["variants"] if "@" in c] == [
        "fp32@onnxruntime",
        "int8_static@onnxruntime",
        "fp32@openvino",
        "int8_static@openvino",
    ]


def test_bf16_at_openvino_runs_bf16_where_the_cpu_has_it_and_says_why_not_elsewhere(tiny_model_dir, tokens, tmp_path):  # noqa: F811
    import openvino as ov

    report, meta, _ = _build_and_evaluate("bf16@openvino", tiny_model_dir, tokens, tmp_path)
    if ov_runtime.cpu_has_bf16(ov.Core()):
        assert report["status"] == "ok" and report["report"]["precision"] == "bf16", report
        assert meta["variant_info"]["openvino_precision"] == "bf16"
        assert report["report"]["bf16_vs_fp32"]["max_abs_logit_diff"] > 0  # really not f32
    else:
        assert report["status"] == "not_applicable" and "no bf16" in report["reason"]


def test_torch_ao_int8_is_labelled_deprecated_and_a_torch_without_it_costs_only_that_cell(monkeypatch, tiny):
    import dataclasses

    from greenbench.cells.runtimes import runtime as runtime_module
    from greenbench.cells.variants import REGISTRY, quantization

    assert quantization._torch_ao_dynamic("cpu") is None  # torch 2.13 still ships it
    prepared = variants.get("int8_dynamic").prepare(tiny, "cpu", None, {})
    assert "deprecated" in prepared.caveat and prepared.info["kernel_path"] == "torch.ao (deprecated)"
    # a torch without torch.ao: the eager cell says why; ONNX Runtime's own int8 of the fp32 graph is unaffected
    gone = "this torch no longer ships torch.ao's quantize_dynamic"
    monkeypatch.setitem(
        REGISTRY, "int8_dynamic", dataclasses.replace(REGISTRY["int8_dynamic"], requirements=lambda d: gone)
    )
    monkeypatch.setattr(runtime_module, "_COMPOSED", {})
    assert variants.get("int8_dynamic").applicability("cpu") == gone
    assert variants.get("int8_dynamic@onnxruntime").applicability("cpu") is None


@pytest.fixture
def tiny(tiny_model_dir):
    from greenbench.data import models

    return models.load_classifier(str(tiny_model_dir))
