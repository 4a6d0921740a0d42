"""Pruning: structured (attention heads, FFN neurons) and unstructured magnitude, each followed by
a short recovery fine-tune (``variants.trained``).

Structured pruning slices the weight matrices (transformers 5 dropped ``prune_heads``): a head is
``head_dim`` rows of query/key/value and the same columns of the output projection; an FFN
neuron is a row of the first FFN linear and a column of the second. Importance is first-order
Taylor (|sum of activation x gradient| over a few batches of the recovery set; Molchanov et al.
2019), normalised per layer, ranked globally, with at least one head and ``min_ffn_fraction`` of
each FFN kept per layer. Smaller matrices mean real savings on dense kernels.

Magnitude pruning zeroes the weights of smallest |w| across all encoder linears (global, 50% by
default) or the 2 smallest of every 4 along the input dimension (2:4). The zeros stay zero
through recovery. On dense kernels this saves nothing, and the outputs say so.
"""

from __future__ import annotations

import numpy as np

from greenbench.config.options import Option, Options, register_options
from greenbench.cells.family import Family, register_family
from greenbench.cells.variants import encoder
from greenbench.cells.variants.trained import RECOVERY_OVERRIDE, TrainedRecipe, register_trained

# -- structured ------------------------------------------------------------------------------


def _slice_linear(linear, index, dim: int) -> None:
    """Keep ``index`` along ``dim`` (0: output rows, 1: input columns) of an nn.Linear, in place."""
    import torch

    index = torch.as_tensor(index, dtype=torch.long, device=linear.weight.device)
    linear.weight = torch.nn.Parameter(linear.weight.detach().index_select(dim, index).clone())
    if dim == 0:
        if linear.bias is not None:
            linear.bias = torch.nn.Parameter(linear.bias.detach().index_select(0, index).clone())
        linear.out_features = len(index)
    else:
        linear.in_features = len(index)


def keep_heads(handles: encoder.LayerHandles, heads: list[int]) -> None:
    d = encoder.head_dim(handles)
    channels = [h * d + i for h in sorted(heads) for i in range(d)]
    for linear in (handles.query, handles.key, handles.value):
        _slice_linear(linear, channels, 0)
    _slice_linear(handles.output, channels, 1)
    for attr in ("num_attention_heads", "n_heads"):
        if hasattr(handles.attention, attr):
            setattr(handles.attention, attr, len(heads))
    if hasattr(handles.attention, "all_head_size"):
        handles.attention.all_head_size = len(heads) * d


def keep_ffn(handles: encoder.LayerHandles, neurons: list[int]) -> None:
    neurons = sorted(neurons)
    _slice_linear(handles.ffn_in, neurons, 0)
    _slice_linear(handles.ffn_out, neurons, 1)


def taylor_importance(model, tokens, pad_id: int, batches: int, batch_size: int = 32):
    """Per layer: head scores (heads,) and FFN-neuron scores (ffn,), |sum x*grad| per batch, summed."""
    import torch

    from greenbench.data.batching import iter_batches

    handles = encoder.layers(model)
    captured: dict[tuple[int, str], torch.Tensor] = {}
    head_scores = [np.zeros(encoder.num_heads(h)) for h in handles]
    ffn_scores = [np.zeros(h.ffn_in.out_features) for h in handles]

    def hook(key):
        def capture(_module, inputs):
            x = inputs[0]
            if x.requires_grad:
                x.retain_grad()
            captured[key] = x

        return capture

    removers = []
    for i, h in enumerate(handles):
        removers.append(h.output.register_forward_pre_hook(hook((i, "heads"))))
        removers.append(h.ffn_out.register_forward_pre_hook(hook((i, "ffn"))))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # no dropout: importance of the model as it will run
    try:
        order = np.random.default_rng(0).permutation(len(tokens))[: batches * batch_size]
        for batch in iter_batches(tokens, batch_size, pad_id, order=order):
            model.zero_grad(set_to_none=True)
            out = model(
                input_ids=batch.input_ids.to(device),
                attention_mask=batch.attention_mask.to(device),
                labels=batch.labels.to(device),
            )
            out.loss.backward()
            for i, h in enumerate(handles):
                x = captured[(i, "heads")]
                per_channel = (x * x.grad).sum(dim=(0, 1)).detach().cpu().numpy()
                head_scores[i] += np.abs(per_channel.reshape(-1, encoder.head_dim(h)).sum(axis=1))
                x = captured[(i, "ffn")]
                ffn_scores[i] += np.abs((x * x.grad).sum(dim=(0, 1)).detach().cpu().numpy())
    finally:
        for r in removers:
            r.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return head_scores, ffn_scores


def select_global(scores: list[np.ndarray], ratio: float, min_keep: list[int]) -> list[list[int]]:
    """Drop the ``ratio`` least important units across layers (scores normalised per layer by their
    L2 norm), never keeping fewer than ``min_keep[layer]`` in a layer. Returns kept indices."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1), got {ratio}")
    normed = [s / (np.linalg.norm(s) or 1.0) for s in scores]
    total = sum(len(s) for s in scores)
    to_drop = int(round(ratio * total))
    candidates = sorted((float(v), layer, unit) for layer, s in enumerate(normed) for unit, v in enumerate(s))
    dropped = [set() for _ in scores]
    for _, layer, unit in candidates:
        if to_drop == 0:
            break
        if len(scores[layer]) - len(dropped[layer]) > min_keep[layer]:
            dropped[layer].add(unit)
            to_drop -= 1
    return [[u for u in range(len(s)) if u not in dropped[i]] for i, s in enumerate(scores)]


def _structured(head_ratio: float, ffn_ratio: float):
    def plan(model, tokens, params, seed, pad_id) -> dict:
        cfg = params.get("pruning", {})
        heads, ffn = taylor_importance(model, tokens, pad_id, int(cfg.get("importance_batches", 32)))
        min_ffn = [max(1, int(np.ceil(float(cfg.get("min_ffn_fraction", 0.1)) * len(s)))) for s in ffn]
        return {
            "kind": "structured",
            "head_ratio": head_ratio,
            "ffn_ratio": ffn_ratio,
            "heads": select_global(heads, head_ratio, [1] * len(heads)),
            "ffn": select_global(ffn, ffn_ratio, min_ffn),
        }

    def apply(model, plan) -> None:
        for handles, heads, neurons in zip(encoder.layers(model), plan["heads"], plan["ffn"]):
            keep_heads(handles, heads)
            keep_ffn(handles, neurons)

    def summarize(model, plan) -> dict:
        return {
            "heads_kept": sum(len(h) for h in plan["heads"]),
            "ffn_kept": sum(len(f) for f in plan["ffn"]),
            "heads_per_layer": [len(h) for h in plan["heads"]],
        }

    return TrainedRecipe(plan, apply, summarize=summarize)


# -- magnitude -------------------------------------------------------------------------------


def _encoder_weights(model) -> list:
    return [linear.weight for h in encoder.layers(model) for linear in h.linears()]


def magnitude_masks(weights, sparsity: float | None = None, pattern: str = "global") -> list:
    """Boolean keep-masks. ``global``: the ``sparsity`` fraction of smallest |w| over all weights;
    ``2:4``: in every group of 4 consecutive inputs keep the 2 largest |w|."""
    import torch

    if pattern == "global":
        flat = torch.cat([w.detach().abs().flatten() for w in weights])
        k = int(round(float(sparsity) * flat.numel()))
        if k == 0:
            return [torch.ones_like(w, dtype=torch.bool) for w in weights]
        threshold = flat.kthvalue(k).values
        return [w.detach().abs() > threshold for w in weights]
    if pattern == "2:4":
        masks = []
        for w in weights:
            if w.shape[1] % 4:
                raise ValueError(f"2:4 pruning needs input width divisible by 4, got {tuple(w.shape)}")
            groups = w.detach().abs().reshape(w.shape[0], -1, 4)
            top = groups.topk(2, dim=-1).indices
            mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, top, True)
            masks.append(mask.reshape(w.shape))
        return masks
    raise ValueError(f"unknown magnitude pattern {pattern!r}")


def sparsity_of(weights) -> float:
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total)


def _magnitude(sparsity: float | None, pattern: str):
    def plan(model, tokens, params, seed, pad_id) -> dict:
        return {"kind": "magnitude", "pattern": pattern, "target_sparsity": 0.5 if pattern == "2:4" else sparsity}

    def apply(model, plan) -> None:
        import torch

        weights = _encoder_weights(model)
        with torch.no_grad():
            for w, mask in zip(weights, magnitude_masks(weights, plan["target_sparsity"], plan["pattern"])):
                w.mul_(mask)

    def constraint(model, plan):
        import torch

        weights = _encoder_weights(model)
        masks = [w.detach() != 0 for w in weights]

        def reapply() -> None:
            with torch.no_grad():
                for w, mask in zip(weights, masks):
                    w.mul_(mask)

        return reapply

    def summarize(model, plan) -> dict:
        return {
            "sparsity": round(sparsity_of(_encoder_weights(model)), 6),
            "pattern": plan["pattern"],
            "kernel": "dense (zeros are multiplied; no sparse kernel is used)",
        }

    return TrainedRecipe(plan, apply, constraint, summarize)


for _heads in (25, 50):
    register_trained(
        f"prune_heads{_heads}",
        "pruning",
        f"structured: {_heads}% of attention heads removed (Taylor importance) + recovery fine-tune",
        _structured(_heads / 100, 0.0),
        ("pruning",),
        label=f"heads pruned {_heads}%",
        order=_heads // 5,
    )
register_trained(
    "prune_ffn25",
    "pruning",
    "structured: 25% of FFN neurons removed (Taylor importance) + recovery",
    _structured(0.0, 0.25),
    ("pruning",),
    label="FFN pruned 25%",
    order=20,
)
register_trained(
    "magnitude50",
    "pruning",
    "unstructured global magnitude pruning to 50% + recovery (dense kernels)",
    _magnitude(0.5, "global"),
    label="magnitude 50%",
    order=30,
)
register_trained(
    "magnitude_2to4",
    "pruning",
    "2:4 semi-structured magnitude pruning + recovery (dense kernels)",
    _magnitude(None, "2:4"),
    label="magnitude 2:4",
    order=40,
)
register_family(Family("pruning", "pruning", "#009E73", "^", order=40, group="pruning"))

register_options(
    Options(
        "variants.pruning",
        "structured pruning (`prune_heads*`, `prune_ffn*`)",
        {
            "importance_batches": Option(
                32,
                {"type": "integer", "minimum": 1},
                "batches of 32 recovery examples for first-order Taylor importance",
            ),
            "min_ffn_fraction": Option(
                0.1,
                {"type": "number", "minimum": 0, "maximum": 1},
                "every layer keeps at least this share of its FFN neurons (and always one head)",
            ),
        },
    )
)
register_options(
    Options(
        "variants.magnitude50",
        "unstructured global magnitude pruning to 50% (variant `magnitude50`)",
        {
            "recovery": Option(
                {"epochs": 2},
                RECOVERY_OVERRIDE,
                "overrides of `variants.recovery` for this variant: half of every encoder matrix's weights are "
                "gone, and one pass over the recovery draw leaves it 2 points below fp32 (two: 0.6; "
                "experiments/2026-12-07-recovery-budget)",
                required=False,
            ),
        },
    )
)
