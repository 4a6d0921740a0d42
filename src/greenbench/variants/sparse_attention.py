"""Sparse attention through transformers' attention interface: top-k (keep the K largest scores
per query) and a dynamic score threshold (drop probabilities below tau x the row maximum, then
renormalise), plus dense eager attention as the like-for-like reference (the baseline uses SDPA).
Evaluated without fine-tuning here; a short sparse-aware fine-tune is issue #5's next step."""

from __future__ import annotations

from greenbench.variants.base import Prepared, Variant, cuda_available, register

IMPLEMENTATION = "greenbench_sparse"


def sparse_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Same contract as transformers' eager attention; the sparsity rule comes from
    ``module.config.greenbench_sparse`` = {"kind": "topk", "k": K} or {"kind": "threshold", "tau": t}."""
    import torch

    rule = module.config.greenbench_sparse
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # transformers passes SDPA-style masks (True = attend) to custom kernels
            scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + attention_mask
    if rule["kind"] == "topk":
        k = min(int(rule["k"]), scores.size(-1))
        kth = scores.topk(k, dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, torch.finfo(scores.dtype).min)
        probs = torch.softmax(scores, dim=-1)
    elif rule["kind"] == "threshold":
        probs = torch.softmax(scores, dim=-1)
        keep = probs >= float(rule["tau"]) * probs.amax(dim=-1, keepdim=True)
        probs = probs * keep
        probs = probs / probs.sum(dim=-1, keepdim=True)
    else:
        raise ValueError(f"unknown sparse attention kind {rule['kind']!r}")
    probs = torch.nn.functional.dropout(probs, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def _register_interface() -> None:
    """Register the kernel *and* its mask builder: without the latter transformers hands a custom
    kernel no padding mask at all, and padded keys would be attended silently."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, sparse_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)


def _sparse(rule: dict):
    def prepare(model, device, artifact=None, params=None) -> Prepared:
        _register_interface()
        model.config.greenbench_sparse = dict(rule)
        model.set_attn_implementation(IMPLEMENTATION)
        return Prepared(model.float().to(device).eval(), device, info={"attention": dict(rule)})

    return prepare


def _dense_eager(model, device, artifact=None, params=None) -> Prepared:
    model.set_attn_implementation("eager")
    return Prepared(model.float().to(device).eval(), device, info={"attention": "eager"})


register(Variant("dense_eager", "sparse_attention", ("cpu", "cuda"), "dense attention, eager kernel (reference for sparse)",
                 _dense_eager, requirements=cuda_available))
for _k in (8, 16, 32):
    register(Variant(f"topk{_k}", "sparse_attention", ("cpu", "cuda"), f"top-{_k} attention per query (no fine-tune)",
                     _sparse({"kind": "topk", "k": _k}), requirements=cuda_available))
register(Variant("threshold05", "sparse_attention", ("cpu", "cuda"),
                 "drop attention probabilities below 0.05 x the row maximum, renormalise (no fine-tune)",
                 _sparse({"kind": "threshold", "tau": 0.05}), requirements=cuda_available))
