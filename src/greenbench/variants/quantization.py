"""Integer quantization: int8 dynamic on CPU (torch.ao), int8/int4 weight-only on GPU (torchao).

Embeddings and the classification head stay in high precision in every recipe.
"""

from __future__ import annotations

import importlib.util

from greenbench.variants.base import Prepared, Variant, cuda_available, register

HIGH_PRECISION_PREFIXES = ("classifier", "pre_classifier", "pooler", "score")


def _keep_high_precision(fqn: str) -> bool:
    parts = fqn.split(".")
    return any(p in HIGH_PRECISION_PREFIXES for p in parts)


def quantizable_linear_names(model) -> list[str]:
    import torch

    return [name for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not _keep_high_precision(name)]


def _int8_dynamic(model, device, artifact=None, params=None) -> Prepared:
    """torch.ao dynamic int8 (deprecated in torch 2.10+, still present in 2.13; a torchao path can replace it here)."""
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name in quantizable_linear_names(model)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = quantize_dynamic(model.float().eval(), qconfig_spec=spec, dtype=torch.qint8)
    return Prepared(quantized, device, info={"quantized_linears": len(spec)})


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
        return (f"torchao {found} is older than {'.'.join(map(str, TORCHAO_MIN))} (it switches float32 matmuls "
                "to TF32 process-wide when quantizing)")
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
        tq.quantize_(model, config, filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and not _keep_high_precision(fqn))
        info = {"torchao_config": config_name, **{k: str(v) for k, v in kwargs.items()}}
        return Prepared(model, device, info=info, caveat=caveat)

    return prepare


def _int8_dynamic_ao(model, device, artifact=None, params=None) -> Prepared:
    """torchao's int8 dynamic activation + int8 per-channel weight path on CPU (fp32 activations
    quantized per token at run time): the successor of torch.ao's ``quantize_dynamic``."""
    import torch
    import torchao.quantization as tq

    model = model.float().to(device).eval()
    tq.quantize_(model, tq.Int8DynamicActivationInt8WeightConfig(),
                 filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and not _keep_high_precision(fqn))
    return Prepared(model, device, info={"torchao_config": "Int8DynamicActivationInt8WeightConfig"},
                    caveat=INT8_AO_CAVEAT)


# In eager mode torchao's int8 dynamic path quantizes activations and calls torch._int_mm op by op;
# under torch.compile (runtime torch_compile) inductor fuses them into oneDNN int8 kernels.
INT8_AO_CAVEAT = ("eager mode: torchao quantizes activations op by op (slow on CPU); its int8 kernels are fused "
                  "under torch.compile (runtime torch_compile)")
# torchao 0.18's Int8WeightOnlyConfig has no int8 matmul in eager mode: every forward dequantizes the
# weight to bf16 and runs a bf16 matmul, so eager cells measure the dequantization too.
INT8_WO_CAVEAT = ("eager mode: torchao dequantizes the int8 weight to bf16 on every forward (no int8 kernel "
                  "without torch.compile); memory is saved, compute is not")
# The default int4 packing ("plain") needs the separate `mslk` kernels package; tile_packed_to_4d uses
# tinygemm, which ships inside torch. tinygemm pads in_features to a multiple of 1024.
INT4_CAVEAT = ("tinygemm int4 kernel (tile_packed_to_4d): in_features padded to a multiple of 1024, so narrow "
               "layers (MiniLM's 384) do padded work")

register(Variant("int8_dynamic", "quantization", ("cpu",),
                 "int8 dynamic per-channel quantization of encoder Linear layers (torch.ao, CPU)", _int8_dynamic))
register(Variant("int8_dynamic_ao", "quantization", ("cpu",),
                 "int8 dynamic activations + int8 per-channel weights of encoder Linear layers (torchao, CPU)",
                 _int8_dynamic_ao, requirements=_torchao_installed))
register(Variant("int8_weight_only", "quantization", ("cuda",), "int8 weight-only (torchao), bf16 activations",
                 _torchao("Int8WeightOnlyConfig", caveat=INT8_WO_CAVEAT), requirements=_torchao_required))
register(Variant("int4_weight_only", "quantization", ("cuda",),
                 "int4 weight-only, group size 128 (torchao, tinygemm kernel), bf16 activations",
                 _torchao("Int4WeightOnlyConfig", caveat=INT4_CAVEAT, group_size=128,
                          int4_packing_format="tile_packed_to_4d"),
                 requirements=_int4_required))
