"""Integer quantization: int8 dynamic on CPU (torch.ao), int8/int4 weight-only on GPU (torchao); int8 static
(calibrated activation ranges) is a runtime's own: ``int8_static@onnxruntime`` (QDQ) and ``int8_static@openvino``
(NNCF), both from the fp32 model.

Embeddings and the classification head stay in high precision in every recipe.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from typing import Any, Callable

from greenbench.cells.family import Family, register_family
from greenbench.cells.variants import native
from greenbench.cells.variants.recipe import (
    NotApplicable,
    Prepared,
    Variant,
    cuda_available,
    footprint,
    register,
    storage_bytes,
)

log = logging.getLogger(__name__)

HIGH_PRECISION_PREFIXES = ("classifier", "pre_classifier", "pooler", "score")


def _keep_high_precision(fqn: str) -> bool:
    parts = fqn.split(".")
    return any(p in HIGH_PRECISION_PREFIXES for p in parts)


def _quantize_filter(module, fqn: str) -> bool:
    """The layers every torchao recipe here quantizes: Linear layers outside the high-precision parts."""
    import torch

    return isinstance(module, torch.nn.Linear) and not _keep_high_precision(fqn)


def quantizable_linear_names(model) -> list[str]:
    return [name for name, module in model.named_modules() if _quantize_filter(module, name)]


TORCH_AO_CAVEAT = (
    "torch.ao.quantization.quantize_dynamic: deprecated since torch 2.10 (kept while the installed torch ships it, "
    "so the recorded answers stay comparable); its maintained twin is int8_dynamic_ao (torchao), measured beside it"
)


def _torch_ao_dynamic(device: str) -> str | None:
    """Why torch.ao's dynamic int8 cannot run here (the installed torch no longer ships it), or None."""
    try:
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic  # noqa: F401
    except ImportError as exc:
        return f"this torch no longer ships torch.ao's quantize_dynamic ({exc}); int8_dynamic_ao is the maintained path"
    return None


def _int8_dynamic(model, device, artifact=None, params=None) -> Prepared:
    """torch.ao dynamic int8 (deprecated in torch 2.10+, still present in 2.13), labelled as such; int8_dynamic_ao is
    torchao's maintained CPU int8, a cell of its own."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name in quantizable_linear_names(model)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(model.float().eval(), qconfig_spec=spec, dtype=torch.qint8)
    info = {"quantized_linears": len(spec), "kernel_path": "torch.ao (deprecated)"}
    return Prepared(quantized, device, info=info, caveat=TORCH_AO_CAVEAT)


TORCHAO_MIN = (0, 18)  # older releases switch every float32 matmul in the process to TF32 when quantizing


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _torchao_required(device: str, min_capability: tuple[int, int] | None = None) -> str | None:
    reason = cuda_available(device)
    if reason:
        return reason
    return _torchao_installed(device, min_capability)


def _torchao_installed(device: str, min_capability: tuple[int, int] | None = None) -> str | None:
    if importlib.util.find_spec("torchao") is None:
        return "torchao is not installed (pip install greenbench[gpu])"
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("torchao")
    except PackageNotFoundError:
        found = "0"
    if _version_tuple(found) < TORCHAO_MIN:
        return (
            f"torchao {found} is older than {'.'.join(map(str, TORCHAO_MIN))} (it switches float32 matmuls "
            "to TF32 process-wide when quantizing)"
        )
    if min_capability is not None:
        import torch

        capability = torch.cuda.get_device_capability()
        if tuple(capability) < min_capability:
            return f"needs compute capability >= {min_capability[0]}.{min_capability[1]} (this GPU: {capability[0]}.{capability[1]})"
    return None


def _int4_required(device: str) -> str | None:
    # tinygemm's int4 kernel (torch's own _weight_int4pack_mm) runs on sm80 and newer
    return _torchao_required(device, (8, 0))


def _torchao(config_name: str, caveat: str = "", **kwargs):
    def prepare(model, device, artifact=None, params=None) -> Prepared:
        import torch
        import torchao.quantization as tq

        model = model.to(device=device, dtype=torch.bfloat16).eval()
        config = getattr(tq, config_name)(**kwargs)
        tq.quantize_(model, config, filter_fn=_quantize_filter)
        info = {"torchao_config": config_name, **{k: str(v) for k, v in kwargs.items()}}
        return Prepared(model, device, info=info, caveat=caveat)

    return prepare


# tinygemm layout (torchao 0.18, quantization/quantize_/workflows/int4/int4_tile_packed_to_4d_tensor.py,
# Int4TilePackedTo4dTensor.from_hp): the bf16 weight [N, K] is zero-padded to K' = find_multiple(K, 1024),
# N' = find_multiple(N, int4_tile_packed_ntile=8), packed by aten._convert_weight_to_int4pack(inner_k_tiles=8)
# into int32 qdata [N'/8, K'/(8*16), 32, 8/2] (= N'*K'/2 bytes) plus scale_and_zero [K'/group, N', 2] in the
# weight's dtype (bf16); the forward pads activations to K' too and runs aten._weight_int4pack_mm.
# torchao skips (leaves in bf16) a weight whose K is not a multiple of group_size.
INT4_K_MULTIPLE = 1024
INT4_N_TILE = 8
INT4_GROUP_SIZE = 128
INT4_PARAM_BYTES = 2  # bf16 scale and zero point


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def int4_tile_layout(
    in_features: int,
    out_features: int,
    group_size: int = INT4_GROUP_SIZE,
    inner_k_tiles: int = 8,
    k_multiple: int = INT4_K_MULTIPLE,
    n_tile: int = INT4_N_TILE,
    param_bytes: int = INT4_PARAM_BYTES,
) -> dict[str, Any]:
    """How tinygemm (torchao's ``tile_packed_to_4d``) stores one Linear weight of shape
    ``[out_features, in_features]`` (= [N, K]): padded sizes, the multiply-add padding factor and
    the bytes it holds without the padding (int4 data + one scale and one zero per group of
    ``group_size`` along K per output row) and with it (what the packed tensors hold)."""
    if min(in_features, out_features, group_size, inner_k_tiles) <= 0:
        raise ValueError(f"sizes must be positive, got K={in_features}, N={out_features}, group={group_size}")
    k, n = int(in_features), int(out_features)
    k_pad, n_pad = _round_up(k, k_multiple), _round_up(n, n_tile)

    def stored(kk: int, nn: int) -> tuple[int, int]:
        return kk * nn // 2, math.ceil(kk / group_size) * nn * 2 * param_bytes  # int4 data, scales + zeros

    q, sz = stored(k, n)
    q_pad, sz_pad = stored(k_pad, n_pad)
    return {
        "in_features": k,
        "out_features": n,
        "padded_in_features": k_pad,
        "padded_out_features": n_pad,
        "mac_padding_factor": (k_pad * n_pad) / (k * n),
        "qdata_shape": (n_pad // 8, k_pad // (inner_k_tiles * 16), 32, inner_k_tiles // 2),  # int32
        "scale_and_zero_shape": (math.ceil(k_pad / group_size), n_pad, 2),
        "weight_bytes_unpadded": q + sz,
        "weight_bytes_padded": q_pad + sz_pad,
    }


def _arrows(pairs: set[tuple[int, int]]) -> str:
    return ", ".join(f"{a}\u2192{b}" for a, b in sorted(pairs) if a != b) or "none"


def int4_layers(
    model, group_size: int = INT4_GROUP_SIZE, filter_fn: Callable[[Any, str], bool] = _quantize_filter
) -> dict[str, dict[str, Any]]:
    """``int4_tile_layout`` of every Linear that ``Int4WeightOnlyConfig`` would quantize with this
    filter (torchao leaves a weight whose in_features is not a multiple of ``group_size`` in bf16)."""
    out = {}
    for name, module in model.named_modules():
        if filter_fn(module, name) and module.in_features % group_size == 0:
            out[name] = int4_tile_layout(module.in_features, module.out_features, group_size)
    return out


def int4_layout_summary(
    model, group_size: int = INT4_GROUP_SIZE, filter_fn: Callable[[Any, str], bool] = _quantize_filter
) -> dict[str, Any]:
    """What tinygemm does to the model's quantized Linear layers, from their shapes (call it
    before quantizing: it needs no GPU and no torchao)."""
    return _layout_summary(int4_layers(model, group_size, filter_fn))


def _layout_summary(layers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    macs = sum(l["in_features"] * l["out_features"] for l in layers.values())
    macs_padded = sum(l["padded_in_features"] * l["padded_out_features"] for l in layers.values())
    return {
        "int4_layout": "tile_packed_to_4d",
        "int4_kernel": "tinygemm _weight_int4pack_mm (small-M kernel)",
        "int4_quantized_linears": len(layers),
        "int4_k_padding": _arrows({(l["in_features"], l["padded_in_features"]) for l in layers.values()}),
        "int4_n_padding": _arrows({(l["out_features"], l["padded_out_features"]) for l in layers.values()}),
        "int4_mac_padding_factor": round(macs_padded / macs, 4) if macs else 1.0,
        "int4_weight_bytes_unpadded": sum(l["weight_bytes_unpadded"] for l in layers.values()),
        "int4_weight_bytes_padded": sum(l["weight_bytes_padded"] for l in layers.values()),
    }


def int4_resident(measured: dict[str, int], padded_bytes: int, unpadded_bytes: int) -> dict[str, int]:
    """The footprint (``variants.footprint`` keys) with tinygemm's padding taken out: the int4
    layers' stored bytes ``padded_bytes`` are counted as ``unpadded_bytes`` in both the linear
    weight bytes and the serialized size; the parameter count (logical shapes) is unchanged."""
    padding = int(padded_bytes) - int(unpadded_bytes)
    if padding < 0:
        raise ValueError(f"padded bytes {padded_bytes} < unpadded bytes {unpadded_bytes}")
    out = {key: int(value) for key, value in measured.items()}
    out["linear_weight_bytes"] -= padding
    out["size_bytes"] -= padding
    return out


def _int4_weight_only(model, device, artifact=None, params=None) -> Prepared:
    """Int4WeightOnlyConfig (group 128, tinygemm layout); its reported storage leaves out the padding."""
    layers = int4_layers(model, INT4_GROUP_SIZE)
    summary = _layout_summary(layers)
    prepared = _torchao(
        "Int4WeightOnlyConfig", caveat=INT4_CAVEAT, group_size=INT4_GROUP_SIZE, int4_packing_format="tile_packed_to_4d"
    )(model, device, artifact, params)
    modules = dict(prepared.model.named_modules())
    padded = sum(storage_bytes(modules[name].weight) for name in layers)  # what torchao's tensors hold
    if padded != summary["int4_weight_bytes_padded"]:
        log.warning(
            "int4 layers hold %d bytes, the tinygemm layout predicts %d", padded, summary["int4_weight_bytes_padded"]
        )
    prepared.info.update(summary)
    prepared.resident = int4_resident(footprint(prepared.model), padded, summary["int4_weight_bytes_unpadded"])
    return prepared


def _int8_dynamic_ao(model, device, artifact=None, params=None) -> Prepared:
    """torchao's int8 dynamic activation + int8 per-channel weight path on CPU (fp32 activations
    quantized per token at run time): the successor of torch.ao's ``quantize_dynamic``."""
    import torch
    import torchao.quantization as tq

    model = model.float().to(device).eval()
    tq.quantize_(
        model,
        tq.Int8DynamicActivationInt8WeightConfig(),
        filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and not _keep_high_precision(fqn),
    )
    return Prepared(
        model, device, info={"torchao_config": "Int8DynamicActivationInt8WeightConfig"}, caveat=INT8_AO_CAVEAT
    )


# In eager mode torchao's int8 dynamic path quantizes activations and calls torch._int_mm op by op;
# under torch.compile (runtime torch_compile) inductor fuses them into oneDNN int8 kernels.
INT8_AO_CAVEAT = (
    "eager mode: torchao quantizes activations op by op (slow on CPU); its int8 kernels are fused "
    "under torch.compile (runtime torch_compile)"
)
# torchao 0.18's Int8WeightOnlyConfig has no int8 matmul in eager mode: every forward dequantizes the
# weight to bf16 and runs a bf16 matmul, so eager cells measure the dequantization too.
INT8_WO_CAVEAT = (
    "eager mode: torchao dequantizes the int8 weight to bf16 on every forward (no int8 kernel "
    "without torch.compile); memory is saved, compute is not"
)
# The default int4 packing ("plain") needs the separate `mslk` kernels package; tile_packed_to_4d uses
# tinygemm, which ships inside torch. tinygemm pads in_features to a multiple of 1024 (int4_tile_layout).
INT4_CAVEAT = (
    "tinygemm int4 (torchao tile_packed_to_4d, torch's _weight_int4pack_mm, a small-M kernel at every "
    "batch size): in_features padded to a multiple of 1024 (out_features to 8), e.g. MiniLM 384\u21921024 "
    "and 1536\u21922048, ~2.2x the Linear multiply-adds; storage is reported without the padding "
    "(variant_info int4_*)"
)

register(
    Variant(
        "int8_dynamic",
        "quantization",
        ("cpu",),
        "int8 dynamic per-channel quantization of encoder Linear layers (torch.ao, deprecated; CPU)",
        _int8_dynamic,
        requirements=_torch_ao_dynamic,
        label="INT8 dynamic",
        order=0,
    )
)
STATIC_RUNTIMES = ("onnxruntime", "openvino")


def _int8_static(model, device, artifact=None, params=None) -> Prepared:
    raise NotApplicable(
        "int8 static is calibrated and run by a runtime, not by PyTorch eager: "
        + " or ".join(f"int8_static@{r}" for r in STATIC_RUNTIMES)
    )


register(
    Variant(
        "int8_static",
        "quantization",
        ("cpu",),
        "int8 static: int8 weights and activations with ranges calibrated on train sentences (never dev), "
        "realized by a runtime from the fp32 model",
        _int8_static,
        label="INT8 static",
        order=5,
    )
)
register(
    Variant(
        "int8_dynamic_ao",
        "quantization",
        ("cpu",),
        "int8 dynamic activations + int8 per-channel weights of encoder Linear layers (torchao, CPU)",
        native.native_only("int8_dynamic_ao", _int8_dynamic_ao),
        requirements=_torchao_installed,
        config_blocks=("cpu_kernels",),
        native_cpu=native.INT8,  # torchao's int8 x int8 matmuls
        label="INT8 dyn. torchao",
        order=10,
    )
)
register(
    Variant(
        "int8_weight_only",
        "quantization",
        ("cuda",),
        "int8 weight-only (torchao), bf16 activations",
        _torchao("Int8WeightOnlyConfig", caveat=INT8_WO_CAVEAT),
        requirements=_torchao_required,
        label="INT8 weight-only",
        order=20,
    )
)
register(
    Variant(
        "int4_weight_only",
        "quantization",
        ("cuda",),
        "int4 weight-only, group size 128 (torchao, tinygemm kernel), bf16 activations",
        _int4_weight_only,
        requirements=_int4_required,
        label="INT4 weight-only",
        order=30,
    )
)
register_family(Family("quantization", "quantization", "#D55E00", "s", order=20, group="quantization"))
