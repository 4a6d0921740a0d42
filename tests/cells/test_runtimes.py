"""The runtime axis: <recipe>@<runtime> cells built, evaluated and measured like every variant."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenbench.config import load as gconfig
from greenbench.core import io
from greenbench.data import models
from greenbench.cells import variants
from greenbench.measure.accuracy import evaluate
from greenbench.core.names import EAGER, cell_name, split_name
from greenbench.cells.runtimes import RUNTIMES, onnx as ort_runtime, read_status
from conftest import toy_sentences

NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,12}", fullmatch=True)


@given(NAME, st.one_of(st.just(EAGER), NAME.filter(lambda n: n != EAGER)))
def test_cell_names_split_back_into_recipe_and_runtime(recipe, runtime):
    assert split_name(cell_name(recipe, runtime)) == (recipe, runtime)
    assert ("@" in cell_name(recipe, runtime)) == (runtime != EAGER)


def _config(**study):
    cfg = copy.deepcopy(gconfig.load_config(["config/config.yaml"]))
    cfg["study"].update(study)
    return cfg


def test_study_runtimes_expand_into_cells_and_revalidate_unchanged():
    cfg = gconfig.validate_config(
        _config(variants=["fp32", "int8_dynamic"], runtimes={"onnxruntime": "all", "torch_compile": ["fp32"]})
    )
    assert cfg["study"]["variants"] == [
        "fp32",
        "int8_dynamic",
        "fp32@onnxruntime",
        "int8_dynamic@onnxruntime",
        "fp32@torch_compile",
    ]
    assert gconfig.validate_config(cfg)["study"]["variants"] == cfg["study"]["variants"]


@pytest.mark.parametrize(
    "study, message",
    [
        ({"runtimes": {"tensorrt_llm": ["fp32"]}}, "study.runtimes.tensorrt_llm': unknown runtime"),
        ({"runtimes": {"onnxruntime": ["fp64"]}}, "study.runtimes.onnxruntime[0]': unknown variant 'fp64'"),
        ({"variants": ["fp32", "fp32@tvm"]}, "unknown runtime 'tvm' in 'fp32@tvm'"),
        ({"variants": ["fp32", "fp32@@x"]}, "study.variants"),
        ({"runtimes": {"onnxruntime": "some"}}, "study.runtimes.onnxruntime"),
    ],
)
def test_bad_runtime_config_names_the_key(study, message):
    with pytest.raises(gconfig.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gconfig.validate_config(_config(**study))


def test_runtime_options_reach_only_the_cells_they_run():
    from greenbench.pipeline import wiring

    cfg = gconfig.validate_config(_config(runtimes={"onnxruntime": ["fp32"]}))
    assert wiring.variant_params(cfg, "fp32@onnxruntime")["runtime"]["exporter"] == "torchscript"
    assert "runtime" not in wiring.variant_params(cfg, "fp32")
    changed = copy.deepcopy(cfg)
    changed["runtimes"]["torch_compile"]["freezing"] = False
    assert wiring.evaluate(changed, "fp32@onnxruntime") == wiring.evaluate(cfg, "fp32@onnxruntime")


def test_composed_cells_carry_recipe_devices_and_static_refusals():
    assert {"onnxruntime", "torch_compile", "aot_inductor"} <= set(RUNTIMES)
    cell = variants.get("int8_dynamic@onnxruntime")
    assert (cell.recipe_name, cell.runtime, cell.devices, cell.family) == (
        "int8_dynamic",
        "onnxruntime",
        ("cpu",),
        "quantization",
    )
    assert "Python" in variants.get("adaptive@onnxruntime").applicability("cpu")
    assert "applies to cuda" in variants.get("fp16@onnxruntime").applicability("cpu")
    with pytest.raises(KeyError, match="unknown runtime"):
        variants.get("fp32@tvm")


@pytest.fixture(scope="module")
def tokens(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("rt-tokens")
    tokenizer = models.load_tokenizer(str(tiny_model_dir))
    out = {}
    for split, seed in (("train", 1), ("dev", 2)):
        df = models.tokenize_dataset(toy_sentences(48, seed), tokenizer, 32)
        out[split] = root / f"{split}.parquet"
        io.write_parquet(df, out[split], models.TOKENS_SCHEMA, {})
    return out


def _build_and_evaluate(name, model_dir, tokens, tmp_path, params=None):
    params = {"runtime": {}} if params is None else params
    artifact = tmp_path / "variants" / name
    cell = variants.get(name)
    report = cell.build(model_dir, tokens["train"], artifact, "cpu", params, 0, {}) if cell.build else None
    out = tmp_path / f"{name}.parquet"
    meta = evaluate(
        model_dir,
        tokens["dev"],
        name,
        "cpu",
        out,
        batch_size=8,
        seed=0,
        threads=1,
        artifact=artifact if cell.build else None,
        variant_params=params,
    )
    return report, meta, io.read_parquet(out)


def test_onnxruntime_fp32_gives_eager_predictions_and_int8_is_smaller(tiny_model_dir, tokens, tmp_path):
    _, eager, eager_preds = _build_and_evaluate("fp32", tiny_model_dir, tokens, tmp_path)
    report, meta, preds = _build_and_evaluate("fp32@onnxruntime", tiny_model_dir, tokens, tmp_path)
    assert report["status"] == "ok", report
    built = report["report"]
    assert built["max_abs_logit_diff"] < 1e-4 and built["artifact_bytes"] > 0 and built["export_s"] > 0
    assert (preds.prediction.to_numpy() == eager_preds.prediction.to_numpy()).all()
    assert meta["runtime"] == "onnxruntime" and meta["recipe"] == "fp32"
    assert meta["variant_info"]["runtime_build"]["build_s"] == built["build_s"]
    q_report, q_meta, _ = _build_and_evaluate("int8_dynamic@onnxruntime", tiny_model_dir, tokens, tmp_path)
    assert q_report["status"] == "ok", q_report
    assert "int8 dynamic quantization (onnxruntime)" in q_report["report"]["stages"]
    assert q_meta["linear_weight_bytes"] < meta["linear_weight_bytes"] / 2  # int8 weights, not fp32


def test_a_graph_the_exporter_cannot_express_is_a_row_with_its_reason(tiny_model_dir, tokens, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::mystery")

    monkeypatch.setattr(ort_runtime, "_export", broken)
    report, meta, preds = _build_and_evaluate("fp32@onnxruntime", tiny_model_dir, tokens, tmp_path)
    assert report["status"] == "not_applicable" and "aten::mystery" in report["reason"]
    assert read_status(tmp_path / "variants" / "fp32@onnxruntime")["status"] == "not_applicable"
    assert meta["status"] == "not_applicable" and "aten::mystery" in meta["reason"] and preds.empty


def test_a_build_that_breaks_stops_its_job_naming_the_cell_and_leaves_no_artifact(
    tiny_model_dir, tokens, tmp_path, monkeypatch
):
    """A compiler or toolchain failure (a path the compiler cannot take, a full disk) is the job's error, not
    a silent not_applicable cell."""
    from greenbench.cells.runtimes.runtime import BuildFailed

    def broken(*args, **kwargs):
        raise RuntimeError("C++ compile error: g++: error: /with: No such file or directory")

    monkeypatch.setattr(ort_runtime, "_export", broken)
    with pytest.raises(BuildFailed, match=r"fp32@onnxruntime on cpu: the onnxruntime build failed.*C\+\+ compile"):
        _build_and_evaluate("fp32@onnxruntime", tiny_model_dir, tokens, tmp_path)
    variants = tmp_path / "variants"
    assert not variants.exists() or not any(variants.iterdir())  # nothing half-built is left


def test_energy_trial_records_refused_runtime_cells(tiny_model_dir, tokens, tmp_path, monkeypatch):
    from greenbench.measure.energy.trial import run_trial
    from greenbench.measure.energy.meters.base import UNAVAILABLE
    from test_energy import CFG

    monkeypatch.setattr(
        ort_runtime,
        "_export",
        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("Unsupported operator aten::mystery")),
    )
    name = "fp32@onnxruntime"
    artifact = tmp_path / name
    variants.get(name).build(tiny_model_dir, tokens["train"], artifact, "cpu", {"runtime": {}}, 0, {})
    cfg = {**CFG, "batch_sizes": [2], "paddings": ["dynamic"], "modes": ["eager"], "overhead_check": False}
    df = run_trial(
        tiny_model_dir,
        tokens["dev"],
        tmp_path / "t.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=["fp32", name, "adaptive@onnxruntime"],
        artifacts={name: artifact},
        variant_params={name: {"runtime": {}}},
        trial=0,
        seed=0,
        cfg=cfg,
        max_length=32,
        threads=1,
    )
    refused = df[df.variant != "fp32"]
    assert (refused.status == "not_applicable").all() and (refused.energy_label == UNAVAILABLE).all()
    assert refused[refused.variant == name].reason.str.contains("aten::mystery").all()
    assert set(df.runtime) == {"eager", "onnxruntime"} and set(df.recipe) == {"fp32", "adaptive"}


def test_torch_compile_builds_a_kernel_cache_and_matches_eager(tiny_model_dir, tokens, tmp_path):
    _, _, eager_preds = _build_and_evaluate("fp32", tiny_model_dir, tokens, tmp_path)
    report, meta, preds = _build_and_evaluate(
        "fp32@torch_compile", tiny_model_dir, tokens, tmp_path, {"runtime": {"freezing": True, "mode": "default"}}
    )
    assert report["status"] == "ok", report
    assert report["report"]["compile_s"] > 0 and report["report"]["cache_bytes"] > 0
    assert report["report"]["max_abs_logit_diff"] < 1e-4
    assert (preds.prediction.to_numpy() == eager_preds.prediction.to_numpy()).all()
    assert meta["runtime"] == "torch_compile" and meta["variant_info"]["freezing"] is True


def test_aot_inductor_builds_one_package_that_later_jobs_load_without_compiling(
    tiny_model_dir, tokens, tmp_path, monkeypatch
):
    import torch

    _, _, eager_preds = _build_and_evaluate("fp32", tiny_model_dir, tokens, tmp_path)
    report, meta, preds = _build_and_evaluate(
        "fp32@aot_inductor", tiny_model_dir, tokens, tmp_path, {"runtime": {"freezing": True, "max_autotune": False}}
    )
    assert report["status"] == "ok", report
    built = report["report"]
    assert built["export_s"] > 0 and built["compile_s"] > 0 and built["max_abs_logit_diff"] < 1e-4
    assert (tmp_path / "variants" / "fp32@aot_inductor" / "model.pt2").stat().st_size > 0
    assert (preds.prediction.to_numpy() == eager_preds.prediction.to_numpy()).all()
    assert meta["runtime"] == "aot_inductor" and meta["variant_info"]["freezing"] is True

    # loading compiles nothing: a second evaluation with inductor's compiler disabled gives the same predictions
    def no_compiling(*args, **kwargs):
        raise AssertionError("load compiled")

    monkeypatch.setattr(torch._inductor, "aoti_compile_and_package", no_compiling)
    monkeypatch.setattr(torch, "compile", no_compiling)
    params = {"runtime": {"freezing": True, "max_autotune": False}}
    evaluate(
        tiny_model_dir,
        tokens["dev"],
        "fp32@aot_inductor",
        "cpu",
        tmp_path / "again.parquet",
        batch_size=8,
        seed=0,
        threads=1,
        artifact=tmp_path / "variants" / "fp32@aot_inductor",
        variant_params=params,
    )
    again = io.read_parquet(tmp_path / "again.parquet")
    assert (again.prediction.to_numpy() == preds.prediction.to_numpy()).all()


def test_a_build_failed_under_a_torch_installed_at_a_spaced_path_says_how_to_fix_it(monkeypatch):
    import importlib.util
    from types import SimpleNamespace

    from greenbench.cells.runtimes.runtime import BuildFailed, raise_build_failed

    real = importlib.util.find_spec
    spaced = "/home/me/My Projects/greenbench/.venv/lib/python3.11/site-packages/torch/__init__.py"
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: SimpleNamespace(origin=spaced) if name == "torch" else real(name)
    )
    with pytest.raises(BuildFailed, match="path with a space .*My Projects.*make install"):
        raise_build_failed(RuntimeError("C++ compile error"), "fp32@torch_compile", "cpu", "torch_compile")
    monkeypatch.setattr(importlib.util, "find_spec", real)
    with pytest.raises(BuildFailed) as plain:
        raise_build_failed(RuntimeError("C++ compile error"), "fp32@torch_compile", "cpu", "torch_compile")
    assert "space" not in str(plain.value)
