"""Handles on the parts of a BERT-style encoder layer that variants rewrite.

One adapter for the layouts greenbench runs: BERT/RoBERTa/MiniLM (``encoder.layer``) and
DistilBERT (``transformer.layer``). Pruning, spiking attention and the MAC counter all go
through it, so supporting another architecture means adding one branch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class LayerHandles:
    attention: Any  # the self-attention module handed to attention kernels (has attention_head_size)
    query: Any
    key: Any
    value: Any
    output: Any  # attention output projection (input = concatenated heads)
    ffn_in: Any
    ffn_out: Any

    def linears(self) -> list:
        return [self.query, self.key, self.value, self.output, self.ffn_in, self.ffn_out]


def layers(model) -> list[LayerHandles]:
    base = model.base_model
    if hasattr(base, "encoder") and hasattr(base.encoder, "layer"):
        return [
            LayerHandles(
                l.attention.self,
                l.attention.self.query,
                l.attention.self.key,
                l.attention.self.value,
                l.attention.output.dense,
                l.intermediate.dense,
                l.output.dense,
            )
            for l in base.encoder.layer
        ]
    if hasattr(base, "transformer") and hasattr(base.transformer, "layer"):
        return [
            LayerHandles(
                l.attention,
                l.attention.q_lin,
                l.attention.k_lin,
                l.attention.v_lin,
                l.attention.out_lin,
                l.ffn.lin1,
                l.ffn.lin2,
            )
            for l in base.transformer.layer
        ]
    raise ValueError(
        f"{type(model).__name__}: greenbench can rewrite BERT-, RoBERTa- and DistilBERT-style encoders only"
    )


def head_dim(handles: LayerHandles) -> int:
    return int(handles.attention.attention_head_size)


def num_heads(handles: LayerHandles) -> int:
    return handles.query.out_features // head_dim(handles)
