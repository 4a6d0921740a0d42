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


def _torchao_required(device: str) -> str | None:
    reason = cuda_available(device)
    if reason:
        return reason
    if importlib.util.find_spec("torchao") is None:
        return "torchao is not installed (pip install greenbench[gpu])"
    return None


def _torchao(config_name: str, **kwargs):
    def prepare(model, device, artifact=None, params=None) -> Prepared:
        import torch
        import torchao.quantization as tq

        model = model.to(device=device, dtype=torch.bfloat16).eval()
        config = getattr(tq, config_name)(**kwargs)
        tq.quantize_(model, config, filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and not _keep_high_precision(fqn))
        return Prepared(model, device, info={"torchao_config": config_name})

    return prepare


register(Variant("int8_dynamic", "quantization", ("cpu",),
                 "int8 dynamic per-channel quantization of encoder Linear layers (torch.ao, CPU)", _int8_dynamic))
register(Variant("int8_weight_only", "quantization", ("cuda",), "int8 weight-only (torchao), bf16 activations",
                 _torchao("Int8WeightOnlyConfig"), requirements=_torchao_required))
register(Variant("int4_weight_only", "quantization", ("cuda",), "int4 weight-only, group size 128 (torchao), bf16 activations",
                 _torchao("Int4WeightOnlyConfig", group_size=128), requirements=_torchao_required))
