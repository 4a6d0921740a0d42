"""Sparse attention through transformers' attention interface: top-k (keep the K largest scores
per query) and a dynamic score threshold (drop probabilities below tau x the row maximum, then
renormalise), plus dense eager attention as the like-for-like reference (the baseline uses SDPA).
Each rule comes twice: applied to the baseline as is, and with a short sparse-aware recovery
fine-tune (``*_ft``, through ``variants.trained``)."""

from __future__ import annotations

from greenbench.cells.family import Family, register_family
from greenbench.cells.variants.recipe import Prepared, Variant, cuda_available, is_recording, register
from greenbench.cells.variants.trained import TrainedRecipe, register_trained

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
        if is_recording() and attention_mask is not None:
            _count_kept(module, keep, attention_mask)
    else:
        raise ValueError(f"unknown sparse attention kind {rule['kind']!r}")
    probs = torch.nn.functional.dropout(probs, p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def _count_kept(module, keep, attention_mask) -> None:
    """Running kept/valid key counts, read by the MAC counter (``flops.describe``)."""
    import torch

    if attention_mask.dtype == torch.bool:
        valid = attention_mask
    else:  # additive mask: 0 where attended, the dtype's minimum where masked
        valid = attention_mask > torch.finfo(attention_mask.dtype).min / 2
    valid = valid.expand_as(keep)
    stats = module.__dict__.setdefault("greenbench_stats", {"kept": 0, "keys": 0})
    stats["kept"] += int((keep & valid).sum())
    stats["keys"] += int(valid.sum())


def _register_interface() -> None:
    """Register the kernel *and* its mask builder: without the latter transformers hands a custom
    kernel no padding mask at all, and padded keys would be attended silently."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(IMPLEMENTATION, sparse_attention)
    AttentionMaskInterface.register(IMPLEMENTATION, eager_mask)


def use_rule(model, rule: dict) -> None:
    _register_interface()
    model.config.greenbench_sparse = dict(rule)
    model.set_attn_implementation(IMPLEMENTATION)


def _sparse(rule: dict):
    def prepare(model, device, artifact=None, params=None) -> Prepared:
        use_rule(model, rule)
        return Prepared(model.float().to(device).eval(), device, info={"attention": dict(rule)})

    return prepare


def _sparse_trained(rule: dict) -> TrainedRecipe:
    return TrainedRecipe(
        plan=lambda model, tokens, params, seed, pad_id: {"kind": "sparse_attention", "attention": dict(rule)},
        apply=lambda model, plan: use_rule(model, plan["attention"]),
        summarize=lambda model, plan: {"attention": dict(plan["attention"])},
    )


def _dense_eager(model, device, artifact=None, params=None) -> Prepared:
    model.set_attn_implementation("eager")
    return Prepared(model.float().to(device).eval(), device, info={"attention": "eager"})


register(
    Variant(
        "dense_eager",
        "sparse_attention",
        ("cpu", "cuda"),
        "dense attention, eager kernel (reference for sparse)",
        _dense_eager,
        requirements=cuda_available,
        label="dense attn. (eager)",
        order=0,
    )
)
RULES = {f"topk{k}": ({"kind": "topk", "k": k}, f"top-{k} attention per query", f"top-{k} attn.") for k in (8, 16, 32)}
RULES["threshold05"] = (
    {"kind": "threshold", "tau": 0.05},
    "drop attention probabilities below 0.05 x the row maximum, renormalise",
    "threshold 0.05 attn.",
)
for _i, (_name, (_rule, _what, _label)) in enumerate(RULES.items()):  # in figures: the rules, then their fine-tunes
    register(
        Variant(
            _name,
            "sparse_attention",
            ("cpu", "cuda"),
            f"{_what} (no fine-tune)",
            _sparse(_rule),
            requirements=cuda_available,
            label=_label,
            order=10 * (_i + 1),
        )
    )
    register_trained(
        f"{_name}_ft",
        "sparse_attention",
        f"{_what}, after a sparse-aware recovery fine-tune",
        _sparse_trained(_rule),
        label=f"{_label} + FT",
        order=10 * (_i + 1 + len(RULES)),
    )
register_family(Family("sparse_attention", "sparse attention", "#CC79A7", "D", order=50, group="sparse attention"))
