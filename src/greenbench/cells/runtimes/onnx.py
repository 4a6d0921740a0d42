"""ONNX Runtime: the recipe's model exported to ONNX, fused, optionally int8-quantized by ONNX
Runtime itself, and run by an ``InferenceSession`` at the highest graph-optimisation level.

Build (once per device, model and cell; the artifact is ``model.onnx`` + ``runtime.json``):

1. export with torch's exporter (``exporter: torchscript``, the default: its graph is the one ONNX
   Runtime's transformer optimiser recognises, so attention, LayerNorm and GELU fuse into single
   kernels; ``dynamo`` is torch's newer exporter, whose graph fuses less today), batch and sequence
   dynamic;
2. fuse (``fuse: true``): ``onnxruntime.transformers.optimizer`` for BERT-like encoders, heads
   and width read from the graph (pruned layers keep their own);
3. for ``int8_dynamic``: ``onnxruntime.quantization.quantize_dynamic`` (int8 per-channel weights,
   activations quantized per batch at run time; the classifier head stays float, as in every
   greenbench int8 recipe); for ``int8_static``: ``quantize_static`` in QDQ format, int8 per-channel
   weights and uint8 activations whose ranges (MinMax) come from ``calibration_size`` train sentences
   (never dev), the head float too;
4. check: logits of the saved graph against the recipe's own PyTorch logits on real train batches;
   both numbers are in the report (an int8 graph is compared with the fp32 model it came from).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.core.names import numeric_step
from greenbench.cells.family import Family, register_family
from greenbench.cells.runtimes.runtime import Runtime, agreement, register_runtime
from greenbench.cells.variants.recipe import NotApplicable, Prepared, Variant

MODEL_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask")
HIGH_PRECISION_NODES = ("classifier", "pooler")  # node names kept float by the int8 quantizer


def _installed(device: str) -> str | None:
    import importlib.util

    for module, package in (("onnxruntime", "onnxruntime"), ("onnx", "onnx")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install {package})"
    if device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return (
                "this onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu); providers: "
                + ", ".join(ort.get_available_providers())
            )
    return None


def _refuses(recipe: Variant) -> str | None:
    if not recipe.one_module:
        return "the adaptive router picks a model per batch in Python; one ONNX graph cannot hold that choice"
    if recipe.name in ("int8_weight_only", "int4_weight_only", "int8_dynamic_ao"):
        return (
            "torchao's quantized tensor subclasses do not export to ONNX (ONNX Runtime quantizes int8_dynamic itself)"
        )
    return None


class _Logits:
    """``forward(input_ids, attention_mask) -> logits`` as a module the exporters accept."""

    def __new__(cls, model):
        import torch

        class Logits(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids, attention_mask):
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

        return Logits(model).eval()  # an exporter restores the wrapper's mode afterwards: train would leak in


def _export(model, sample, path: Path, exporter: str) -> None:
    import warnings

    import torch

    config = getattr(model, "config", None)
    if config is not None and getattr(config, "_attn_implementation", None) == "sdpa":
        config._attn_implementation = "eager"  # same arithmetic; the pattern ONNX Runtime fuses into Attention
    ids, mask = sample
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            from torch.export import Dim

            batch, seq = Dim("batch", min=1, max=4096), Dim("seq", min=2, max=4096)
            torch.onnx.export(
                _Logits(model),
                (ids, mask),
                str(path),
                dynamo=True,
                input_names=list(INPUTS),
                output_names=["logits"],
                optimize=True,
                dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            )
        else:
            axes = {
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "logits": {0: "batch"},
            }
            torch.onnx.export(
                _Logits(model),
                (ids, mask),
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=list(INPUTS),
                output_names=["logits"],
                dynamic_axes=axes,
            )


def _fuse(path: Path, out: Path, model, device: str) -> dict[str, int]:
    """ONNX Runtime's BERT fusions, with the heads and width of the model's config (a model whose
    layers lost heads to pruning fuses wrongly: the logit check below catches that)."""
    import logging

    from onnxruntime.transformers import optimizer

    config = getattr(model, "config", None)
    heads, hidden = int(getattr(config, "num_attention_heads", 0) or 0), int(getattr(config, "hidden_size", 0) or 0)
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    fused = optimizer.optimize_model(
        str(path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0, use_gpu=device == "cuda"
    )
    fused.save_model_to_file(str(out))
    return {k: int(v) for k, v in fused.get_fused_operator_statistics().items() if v}


def feeds(input_ids, attention_mask) -> dict[str, Any]:
    """A batch as an exported graph's inputs: int64 NumPy arrays named like ``INPUTS`` (ONNX Runtime, OpenVINO,
    the static quantizers' calibration readers)."""
    import numpy as np

    return {
        "input_ids": input_ids.cpu().numpy().astype(np.int64),
        "attention_mask": attention_mask.cpu().numpy().astype(np.int64),
    }


def _kept_float(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path)).graph
    return [n.name for n in graph.node if any(part in n.name.lower() for part in HIGH_PRECISION_NODES)]


def _quantize_static(path: Path, out: Path, batches) -> int:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else feeds(*batch)

    keep = _kept_float(path)
    quantize_static(
        str(path),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=keep,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return len(keep)


def _quantize(path: Path, out: Path) -> int:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = _kept_float(path)
    quantize_dynamic(
        str(path),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=keep,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return len(keep)


RESIDENT_KEYS = ("size_bytes", "parameters", "linear_weight_bytes")


def resident(path: Path) -> dict[str, int]:
    """Size on disk, stored parameters and bytes of matrix-product weights of an ONNX graph."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights = set()
    for node in graph.node:
        if node.op_type in ("MatMul", "MatMulInteger", "Gemm", "Attention", "QAttention") and len(node.input) > 1:
            weights.add(node.input[1])
    return {
        "size_bytes": path.stat().st_size,
        "parameters": int(sum(a.size for a in arrays.values())),
        "linear_weight_bytes": int(sum(arrays[w].nbytes for w in weights if w in arrays)),
    }


class OrtPrepared(Prepared):
    """An ``InferenceSession`` behind the same ``forward`` as every variant. ``model`` stays the
    recipe's torch model, so MACs are counted on the architecture the graph was exported from."""

    session: Any = None

    def forward(self, input_ids, attention_mask):
        import torch

        logits = self.session.run(["logits"], feeds(input_ids, attention_mask))[0]
        return torch.from_numpy(logits).to(self.device).float()


def session(path: Path, device: str, threads: int | None = None):
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())  # the job's thread budget, as torch
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # ORT's idle threads spin after Run returns, waiting for the next one; whatever the process runs
    # next (another model in an interleaved window, PyTorch's own threads) loses those cores on a
    # small host: with it, int8/fp32 ratios interleaved beside ORT cells had a 3x larger trial-to-trial
    # SD (benchmarks/results/cpu-interleave-2026-12-04). Spinning within a Run is kept.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    made = ort.InferenceSession(str(path), options, providers=providers)
    # ORT drops a provider that cannot load (CUDA/cuDNN libraries missing or mismatched) with only a
    # log line (silenced above) and runs everything on the CPU: such a cell must not be labelled cuda
    reason = check_providers(device, made.get_providers(), providers, ort.get_available_providers())
    if reason is not None:
        raise NotApplicable(reason)
    return made


GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def check_providers(device: str, session_providers, requested, available=None) -> str | None:
    """Why a session with these execution providers cannot stand for ``device``, or None.

    On cuda, a GPU provider (CUDA or TensorRT) must be the session's first one; ONNX Runtime falls
    back to ``CPUExecutionProvider`` without raising when the CUDA provider cannot load. On cpu any
    session is accepted (only the CPU provider is requested)."""
    session_providers = list(session_providers)
    if device != "cuda":
        return None
    if session_providers and session_providers[0] in GPU_PROVIDERS:
        return None
    first = session_providers[0] if session_providers else "no execution provider"
    listed = list(available) if available is not None else session_providers
    return (
        f"onnxruntime fell back to {first} on cuda (session providers: {session_providers}; requested: "
        f"{list(requested)}; providers available: {listed}): the CUDA execution provider could not load "
        "(CUDA/cuDNN libraries missing or not matching this onnxruntime-gpu build)"
    )


def _load(
    prepared: Prepared,
    recipe: Variant,
    artifact: Path,
    device: str,
    options: Mapping[str, Any],
    status: Mapping[str, Any],
) -> Prepared:
    path = artifact / MODEL_FILE
    report = status.get("report", {})
    out = _ort(path, prepared.model, device)
    # the build measured the saved graph (resident()); loading it again into onnx would parse ~90 MB per job
    out.graph_safe, out.resident = False, {key: int(report[key]) for key in RESIDENT_KEYS}
    out.info = {"onnx": report.get("stages", [])}
    if device == "cuda":
        out.caveat = "ONNX Runtime on CUDA copies inputs and logits between host and device every batch"
    return out


def _ort(path: Path, model, device: str) -> OrtPrepared:
    out = OrtPrepared(model, device)
    out.session = session(path, device)
    return out


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
    if getattr(prepared, "components", None):
        raise NotApplicable("a variant made of several models cannot be exported as one graph")
    options = ORT.resolve(options)
    exporter = str(options["exporter"])
    path, report, stages = out / MODEL_FILE, {"exporter": exporter}, []
    started = time.perf_counter()
    _export(prepared.model, samples[-1], path, exporter)
    report["export_s"] = round(time.perf_counter() - started, 3)
    stages.append(f"export ({exporter})")
    # float32 graphs must reproduce PyTorch's logits; half-precision graphs are only reported
    tolerance = (
        float(options["max_abs_logit_diff"]) if str(_dtype_of(prepared.model)) == "torch.float32" else float("inf")
    )
    check = agreement(prepared, _ort(path, prepared.model, device), samples)
    if check["max_abs_logit_diff"] > tolerance:
        raise NotApplicable(
            f"the exported graph's logits differ from PyTorch's by {check['max_abs_logit_diff']:.3g} "
            f"(> {tolerance:g}): the export is not faithful"
        )
    report.update(check)
    if options["fuse"]:
        started = time.perf_counter()
        fused_path = out / "model.fused.onnx"
        fused_ops = _fuse(path, fused_path, prepared.model, device)
        fused_check = agreement(prepared, _ort(fused_path, prepared.model, device), samples)
        report["fuse_s"] = round(time.perf_counter() - started, 3)
        if fused_check["max_abs_logit_diff"] <= tolerance:
            fused_path.replace(path)
            report.update(fused_check, fused_ops=fused_ops)
            stages.append("fuse")
        else:  # keep the faithful unfused graph and say why
            fused_path.unlink()
            report["fusion_skipped"] = (
                f"fused graph's logits differ from PyTorch's by {fused_check['max_abs_logit_diff']:.3g}"
            )
    if realize:  # ONNX Runtime's own int8 quantization of the fp32 graph: dynamic, or static (calibrated)
        started = time.perf_counter()
        quantized = out / "model.int8.onnx"
        if numeric_step(recipe.name) == "int8_static":
            n = int(options["calibration_size"])
            report["kept_float_nodes"] = _quantize_static(path, quantized, calibration(n))
            report["calibration_sentences"] = n
            stages.append(f"int8 static quantization (onnxruntime QDQ, MinMax on {n} train sentences)")
        else:
            report["kept_float_nodes"] = _quantize(path, quantized)
            stages.append("int8 dynamic quantization (onnxruntime)")
        quantized.replace(path)
        report["quantize_s"] = round(time.perf_counter() - started, 3)
        report["int8_vs_fp32"] = agreement(prepared, _ort(path, prepared.model, device), samples)
    report["stages"] = stages
    report.update(resident(path))
    return report


def _dtype_of(model) -> Any:
    import torch

    return next((p.dtype for p in model.parameters()), torch.float32)


register_runtime(
    Runtime(
        "onnxruntime",
        ("cpu", "cuda"),
        "ONNX Runtime (exported graph, transformer fusions, ORT_ENABLE_ALL; CPU or CUDA execution provider)",
        build=_build,
        load=_load,
        requirements=_installed,
        refuses=_refuses,
        realizes={"int8_dynamic": "fp32", "int8_static": "fp32"},
        label="ONNX RT",
        calibrates=True,
    )
)
register_family(Family("onnxruntime", "ONNX Runtime", "#332288", "X", order=70, group="runtimes"))

ORT = register_options(
    Options(
        "runtimes.onnxruntime",
        "ONNX Runtime (runtime `onnxruntime`)",
        {
            "exporter": Option(
                "torchscript",
                {"enum": ["torchscript", "dynamo"]},
                "torch's ONNX exporter: torchscript (the graph ONNX Runtime's transformer fusions recognise) or dynamo",
            ),
            "fuse": Option(
                True,
                {"type": "boolean"},
                "apply ONNX Runtime's transformer fusions (attention, LayerNorm, GELU), "
                "kept only if the fused graph's logits still match PyTorch's",
            ),
            "max_abs_logit_diff": Option(
                1.0e-3,
                {"type": "number", "exclusiveMinimum": 0},
                "an fp32 graph whose logits differ from PyTorch's by more is refused as not faithful",
            ),
            "calibration_size": Option(
                300,
                {"type": "integer", "minimum": 1},
                "int8_static: train sentences (never dev) whose activation ranges set the int8 scales",
            ),
        },
        required=False,
    )
)
