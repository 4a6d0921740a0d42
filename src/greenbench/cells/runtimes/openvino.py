"""OpenVINO: the recipe's model exported to ONNX (the same exporter as ``onnxruntime``), converted to
OpenVINO IR with float32 weights, and compiled for the CPU with an explicit inference precision.

OpenVINO's CPU plugin silently runs float32 graphs in bf16 on CPUs that have bf16 instructions
(AVX512-BF16, AMX). A cell here never leaves that to the host: ``fp32@openvino`` compiles with
``INFERENCE_PRECISION_HINT = f32`` (exactly float32 arithmetic), ``bf16@openvino`` with ``bf16`` (refused,
with the reason, on a CPU without bf16), and each build reports the precision the compiled model says it
runs. ``int8_static@openvino`` is NNCF post-training quantization of the fp32 IR (transformer preset:
int8 weights and activations, SmoothQuant), its activation ranges calibrated on ``calibration_size`` train
sentences (never dev), the classifier head kept float; its non-quantized operations run in f32 too.
Threads: the job's thread budget (its rule's threads, as torch), one stream, latency hint: one
synchronous request per batch, like every other cell. Batch size and sequence length stay dynamic.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.core.names import numeric_step
from greenbench.cells.family import Family, register_family
from greenbench.cells.runtimes.onnx import RESIDENT_KEYS, _export, feeds
from greenbench.cells.runtimes.runtime import Runtime, agreement, register_runtime
from greenbench.cells.variants.recipe import NotApplicable, Prepared, Variant

MODEL_FILE = "model.xml"  # + model.bin (the weights)
PRECISION = {"bf16": "bf16"}  # recipe -> inference precision; every other recipe: f32
IGNORED = (".*classifier.*", ".*pooler.*")  # node-name patterns NNCF leaves float (as every int8 recipe here)


def _installed(device: str) -> str | None:
    import importlib.util

    if device != "cpu":
        return "greenbench runs OpenVINO on the CPU only"
    for module in ("openvino", "onnx"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install {module})"
    return None


def _refuses(recipe: Variant) -> str | None:
    if not recipe.one_module:
        return "the adaptive router picks a model per batch in Python; one OpenVINO graph cannot hold that choice"
    if recipe.name in ("int8_dynamic", "int8_dynamic_ao", "int8_weight_only", "int4_weight_only"):
        return "OpenVINO's int8 is static and its own (int8_static@openvino); PyTorch's quantized modules do not export"
    return None


def precision_of(recipe: str) -> str:
    """The inference precision a cell compiles with: ``bf16`` for the bf16 recipe (or a chain ending in it),
    else ``f32``."""
    return PRECISION.get(numeric_step(recipe), "f32")


def cpu_has_bf16(core) -> bool:
    """Whether OpenVINO's CPU plugin offers bf16 on this host (its optimisation capabilities)."""
    return "BF16" in [str(c).upper() for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def compile_model(path: Path, precision: str, threads: int | None = None):
    """The IR at ``path`` compiled for the CPU at ``precision`` with the job's threads, one stream."""
    import openvino as ov
    import torch

    core = ov.Core()
    if precision == "bf16" and not cpu_has_bf16(core):
        raise NotApplicable("this CPU has no bf16 (OpenVINO's CPU plugin lists no BF16 capability)")
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
        "NUM_STREAMS": "1",
        "PERFORMANCE_HINT": "LATENCY",
    }
    return core.compile_model(str(path), "CPU", config)


def compiled_precision(compiled) -> str:
    """The inference precision the compiled model reports (``f32``, ``bf16``...)."""
    value = compiled.get_property("INFERENCE_PRECISION_HINT")
    name = getattr(value, "get_type_name", None)
    return str(name() if name else value)


class OvPrepared(Prepared):
    """A compiled OpenVINO model behind the same ``forward`` as every variant; ``model`` stays the recipe's
    torch model (MACs are counted on the architecture the graph came from)."""

    request: Any = None

    def forward(self, input_ids, attention_mask):
        import torch

        self.request.infer(feeds(input_ids, attention_mask))
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy()).float()


def _prepared(path: Path, model, precision: str) -> OvPrepared:
    out = OvPrepared(model, "cpu")
    compiled = compile_model(path, precision)
    out.request = compiled.create_infer_request()
    out.info = {"openvino_precision": compiled_precision(compiled)}
    return out


def resident(path: Path) -> dict[str, int]:
    """Bytes on disk of the IR (graph + weights), its stored constants' elements, and the bytes of the
    weights that feed matrix products."""
    import openvino as ov

    model = ov.Core().read_model(str(path))
    parameters, linear = 0, 0
    for op in model.get_ordered_ops():
        if op.get_type_name() != "Constant":
            continue
        shape = [int(d) for d in op.get_output_shape(0)]
        size = math.prod(shape)
        parameters += size
        consumers = [t.get_node().get_type_name() for t in op.output(0).get_target_inputs()]
        if len(shape) >= 2 and any(c in ("MatMul", "Convert", "FakeQuantize", "Multiply") for c in consumers):
            linear += size * op.get_output_element_type(0).size
    size_bytes = path.stat().st_size + path.with_suffix(".bin").stat().st_size
    return {"size_bytes": size_bytes, "parameters": int(parameters), "linear_weight_bytes": int(linear)}


def _build(
    prepared: Prepared,
    recipe: Variant,
    out: Path,
    device: str,
    options: Mapping[str, Any],
    *,
    realize: bool,
    samples,
    calibration=None,
) -> dict[str, Any]:
    import openvino as ov

    if getattr(prepared, "components", None):
        raise NotApplicable("a variant made of several models cannot be exported as one graph")
    options = OPENVINO.resolve(options)
    precision = precision_of(recipe.name)
    report: dict[str, Any] = {"precision_requested": precision}
    stages = []
    started = time.perf_counter()
    onnx_path = out / "model.onnx"
    _export(prepared.model, samples[-1], onnx_path, "torchscript")
    model = ov.convert_model(str(onnx_path))
    path = out / MODEL_FILE
    ov.save_model(model, str(path), compress_to_fp16=False)  # the default would store the weights in fp16
    onnx_path.unlink()
    report["convert_s"] = round(time.perf_counter() - started, 3)
    stages.append("export (torchscript) + convert to IR (f32 weights)")
    # an f32 IR must reproduce PyTorch's logits; bf16 inference is only reported
    f32 = agreement(prepared, _prepared(path, prepared.model, "f32"), samples)
    if f32["max_abs_logit_diff"] > float(options["max_abs_logit_diff"]):
        raise NotApplicable(
            f"the converted graph's logits differ from PyTorch's by {f32['max_abs_logit_diff']:.3g} "
            f"(> {options['max_abs_logit_diff']:g}) at f32: the conversion is not faithful"
        )
    if numeric_step(recipe.name) == "int8_static":
        import nncf

        n = int(options["calibration_size"])
        started = time.perf_counter()
        batches = calibration(n)
        dataset = nncf.Dataset(batches, lambda batch: feeds(*batch))
        quantized = nncf.quantize(
            model,
            dataset,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(batches),
            ignored_scope=nncf.IgnoredScope(patterns=list(IGNORED), validate=False),
        )
        ov.save_model(quantized, str(path), compress_to_fp16=False)
        report.update(quantize_s=round(time.perf_counter() - started, 3), calibration_sentences=n)
        stages.append(f"int8 static quantization (NNCF, transformer preset, {n} train sentences)")
        report["int8_vs_fp32"] = agreement(prepared, _prepared(path, prepared.model, "f32"), samples)
    else:
        report.update(f32)
    loaded = _prepared(path, prepared.model, precision)
    report["precision"] = loaded.info["openvino_precision"]
    if precision != "f32":
        report[f"{precision}_vs_fp32"] = agreement(prepared, loaded, samples)
    report["stages"] = stages
    report.update(resident(path))
    return report


def _load(
    prepared: Prepared,
    recipe: Variant,
    artifact: Path,
    device: str,
    options: Mapping[str, Any],
    status: Mapping[str, Any],
) -> Prepared:
    report = status.get("report", {})
    out = _prepared(artifact / MODEL_FILE, prepared.model, precision_of(recipe.name))
    out.graph_safe = False
    out.resident = {key: int(report[key]) for key in RESIDENT_KEYS}
    out.info = {**out.info, "openvino": report.get("stages", [])}
    return out


register_runtime(
    Runtime(
        "openvino",
        ("cpu",),
        "OpenVINO (exported graph as IR, CPU plugin at an explicit inference precision)",
        build=_build,
        load=_load,
        requirements=_installed,
        refuses=_refuses,
        realizes={"int8_static": "fp32", "bf16": "fp32"},
        label="OpenVINO",
        calibrates=True,
    )
)
register_family(Family("openvino", "OpenVINO", "#44AA99", "D", order=75, group="runtimes"))

OPENVINO = register_options(
    Options(
        "runtimes.openvino",
        "OpenVINO (runtime `openvino`)",
        {
            "calibration_size": Option(
                300,
                {"type": "integer", "minimum": 1},
                "int8_static: train sentences (never dev) NNCF calibrates activation ranges on",
            ),
            "max_abs_logit_diff": Option(
                1.0e-3,
                {"type": "number", "exclusiveMinimum": 0},
                "a graph whose f32 logits differ from PyTorch's by more is refused as not faithful",
            ),
        },
        required=False,
    )
)
