"""Recipes that compose: <structural>+<numeric>@<runtime>, built from the structural recipe's own model."""

from __future__ import annotations

import pytest

from greenbench.cells import runtimes, variants
from greenbench.cells.runtimes import chain_problem, source_recipe
from greenbench.config import load as gconfig
from greenbench.core import io
from greenbench.measure.accuracy import evaluate
from greenbench.pipeline import wiring
from greenbench.report import style

from test_runtimes import _config, tokens  # noqa: F401  (the module's token fixture)
from test_trained_variants import VARIANTS_CONFIG


def test_a_chain_names_its_source_its_steps_and_its_parameters():
    cell = variants.get("prune_heads25+int8_static@openvino")
    assert cell.recipe == "prune_heads25+int8_static" and cell.runtime == "openvino"
    assert source_recipe("prune_heads25+int8_static@openvino") == "prune_heads25"  # its build starts there
    assert cell.devices == ("cpu",) and cell.family == "pruning"
    assert variants.cell_modules("prune_ffn25+int8_dynamic@onnxruntime") == [
        "greenbench.cells.variants.pruning",
        "greenbench.cells.variants.quantization",
        "greenbench.cells.runtimes.onnx",
    ]
    cfg = gconfig.load_config(["config/config.yaml"])
    params = wiring.variant_params(cfg, "prune_ffn25+int8_dynamic@onnxruntime")
    assert set(params) == {"recovery", "pruning", "runtime"}  # the structural step's blocks + the runtime's
    assert style.label("prune_heads25+int8_static@openvino") == "heads pruned 25% + INT8 static · OpenVINO"


@pytest.mark.parametrize(
    "recipe, runtime, why",
    [
        ("int8_dynamic+int8_static", "onnxruntime", "two numeric recipes do not compose"),
        ("prune_heads25+prune_ffn25", "onnxruntime", "'prune_ffn25' is structural"),
        ("prune_heads25+int8_static", "eager", "PyTorch eager does not"),
        ("prune_heads25+int8_dynamic", "openvino", "openvino does not realize 'int8_dynamic'"),
        ("prune_heads25+int8_static+bf16", "openvino", "this one has 3 step(s)"),
        ("prune_heads25+fp64", "openvino", "unknown variant 'fp64'"),
        ("prune_heads25+int8_dynamic", "aot_inductor", "aot_inductor does not realize"),
    ],
)
def test_chains_that_cannot_exist_are_refused_with_the_reason(recipe, runtime, why):
    assert why in chain_problem(recipe, runtime)
    with pytest.raises(KeyError, match=why.replace("(", r"\(").replace(")", r"\)")):
        variants.get(recipe if runtime == "eager" else f"{recipe}@{runtime}")


def test_config_validation_refuses_a_bad_chain_before_any_job_naming_the_key():
    with pytest.raises(gconfig.ConfigError, match=r"study.runtimes.openvino\[1\]'.*does not realize 'int8_dynamic'"):
        gconfig.validate_config(_config(runtimes={"openvino": ["fp32", "prune_heads25+int8_dynamic"]}))
    with pytest.raises(gconfig.ConfigError, match=r"study.variants\[1\]'.*PyTorch eager does not"):
        gconfig.validate_config(_config(variants=["fp32", "prune_heads25+int8_static"], runtimes={}))
    cfg = gconfig.validate_config(
        _config(variants=["fp32", "prune_heads25"], runtimes={"onnxruntime": ["prune_heads25+int8_static"]})
    )
    assert cfg["study"]["variants"][-1] == "prune_heads25+int8_static@onnxruntime"


@pytest.mark.parametrize("chain", ["prune_heads50+int8_static@openvino", "prune_heads50+int8_dynamic@onnxruntime"])
def test_a_chain_is_built_from_the_pruned_model_without_a_second_recovery(chain, tiny_model_dir, tokens, tmp_path):  # noqa: F811
    pytest.importorskip("openvino")
    root = tmp_path / "variants"
    pruned = variants.get("prune_heads50")
    params = variants.params_for(VARIANTS_CONFIG, "prune_heads50")
    pruned.build(tiny_model_dir, tokens["train"], root / "prune_heads50", "cpu", params, 0, {})
    before = (root / "prune_heads50" / "model.pt").stat().st_mtime_ns
    cell = variants.get(chain)
    chain_params = {**params, "runtime": {"calibration_size": 16}}
    report = cell.build(tiny_model_dir, tokens["train"], root / chain, "cpu", chain_params, 0, {})
    assert report["status"] == "ok", report
    assert (root / "prune_heads50" / "model.pt").stat().st_mtime_ns == before  # the pruned model, reused
    assert "recovery_steps" not in report["report"] and "int8" in report["report"]["stages"][-1]
    out = tmp_path / "eval.parquet"
    meta = evaluate(
        tiny_model_dir, tokens["dev"], chain, "cpu", out, batch_size=8, seed=0, threads=1,
        artifact=root / chain, variant_params=chain_params,
    )  # fmt: skip
    assert meta["recipe"] == chain.split("@")[0] and meta["runtime"] == chain.split("@")[1]
    assert meta["variant_info"]["heads_kept"] == 4  # the structural step's facts travel with the cell
    assert len(io.read_parquet(out)) > 0
    assert runtimes.source_recipe(chain) == "prune_heads50"
