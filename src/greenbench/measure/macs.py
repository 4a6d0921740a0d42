"""Multiply-accumulates (MACs) and accumulates (ACs) per sentence, dense-equivalent and effective.

Counts matrix products only (projections, attention scores, attention-weighted values, FFN,
pooler, classifier); embeddings, norms, softmax and activations are left out, as is usual.

- dense-equivalent: the MACs of the unmodified dense computation at this architecture
  (a head-pruned model has fewer; magnitude pruning and top-k attention do not change it);
- effective: what an ideal kernel that skips the removed work would do: linear MACs scaled by
  the fraction of non-zero weights, top-k attention's value product limited to K keys, the
  threshold variant's to the measured kept fraction, and, for spiking self-attention, the
  spike-driven products moved out of MACs into ACs (one AC per spike, Horowitz-style);
- theoretical energy under the 45 nm model (Horowitz 2014): 4.6 pJ per MAC, 0.9 pJ per AC.
  It is a model, not a measurement, and is labelled so wherever it is written.

Everything is a pure function of a ``LayerSpec`` list and the sentence lengths, so it is
tested without a model; ``describe`` reads the specs off a prepared variant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

PJ_PER_MAC = 4.6
PJ_PER_AC = 0.9
ENERGY_MODEL = "theoretical: 45 nm, 4.6 pJ/MAC, 0.9 pJ/AC (Horowitz 2014)"


@dataclass(frozen=True)
class LayerSpec:
    """One encoder layer as far as arithmetic is concerned."""

    hidden: int
    heads: int
    head_dim: int
    ffn: int
    linear_density: float = 1.0  # fraction of non-zero weights in this layer's linears
    attention: dict[str, Any] = field(default_factory=lambda: {"kind": "dense"})


@dataclass(frozen=True)
class Counts:
    macs_dense: float
    macs_effective: float
    acs: float

    @property
    def energy_pj(self) -> float:
        return PJ_PER_MAC * self.macs_effective + PJ_PER_AC * self.acs


def layer_counts(spec: LayerSpec, length: int) -> Counts:
    """MACs/ACs of one layer on one sentence of ``length`` tokens."""
    L, H, A, d, h = length, spec.hidden, spec.heads * spec.head_dim, spec.head_dim, spec.heads
    projections = 3 * L * H * A  # query, key, value
    output = L * A * H  # attention output projection
    ffn = 2 * L * H * spec.ffn
    scores = h * L * L * d
    values = h * L * L * d
    dense = projections + output + ffn + scores + values
    linear_eff = (projections + output + ffn) * spec.linear_density
    kind = spec.attention.get("kind", "dense")
    acs = 0.0
    if kind == "topk":
        values_eff = h * L * min(int(spec.attention["k"]), L) * d
        eff = linear_eff + scores + values_eff
    elif kind == "threshold":
        eff = linear_eff + scores + values * float(spec.attention.get("kept_fraction", 1.0))
    elif kind == "spiking":
        T = int(spec.attention["time_steps"])
        rates = spec.attention["firing_rates"]
        # Binary Q and K: each query spike triggers one accumulate per key; binary V: each value
        # spike accumulates one integer score; spiking attention output drives W_o with ACs.
        acs = T * (rates["q"] * scores + rates["v"] * values + rates["out"] * output * spec.linear_density)
        eff = (projections + ffn) * spec.linear_density
    elif kind == "dense":
        eff = linear_eff + scores + values
    else:
        raise ValueError(f"unknown attention kind {kind!r} in LayerSpec")
    return Counts(float(dense), float(eff), float(acs))


def sentence_counts(layers: Iterable[LayerSpec], length: int, num_labels: int = 2) -> Counts:
    """Whole model on one sentence: encoder layers, pooler and classifier (first token only)."""
    layers = list(layers)
    head = layers[0].hidden * layers[0].hidden + layers[0].hidden * num_labels if layers else 0
    parts = [layer_counts(spec, length) for spec in layers]
    return Counts(
        sum(p.macs_dense for p in parts) + head, sum(p.macs_effective for p in parts) + head, sum(p.acs for p in parts)
    )


def per_sentence(layers: Iterable[LayerSpec], lengths: Iterable[int], num_labels: int = 2) -> dict[str, float]:
    """Means over a length distribution (MACs grow with L², so mean-of-counts, not count-of-mean)."""
    layers = list(layers)
    lengths = np.asarray(list(lengths), dtype=np.int64)
    if lengths.size == 0:
        raise ValueError("per_sentence needs at least one sentence length")
    unique, weights = np.unique(lengths, return_counts=True)
    counts = [sentence_counts(layers, int(L), num_labels) for L in unique]
    mean = lambda values: float(np.average(values, weights=weights))  # noqa: E731
    macs_dense = mean([c.macs_dense for c in counts])
    macs_eff = mean([c.macs_effective for c in counts])
    acs = mean([c.acs for c in counts])
    return {
        "macs_dense": macs_dense,
        "macs_effective": macs_eff,
        "acs": acs,
        "theoretical_energy_uj": (PJ_PER_MAC * macs_eff + PJ_PER_AC * acs) / 1e6,
    }


def _weight_of(linear):
    weight = linear.weight
    return weight() if callable(weight) else weight  # dynamic-quantized Linear exposes weight()


def _density(linears) -> float:
    import torch

    from greenbench.cells.variants.recipe import is_packed

    total = nonzero = 0
    for linear in linears:
        w = _weight_of(linear)
        if is_packed(w):  # torchao's quantized weights: dense by construction, and count_nonzero is not
            return 1.0  # implemented for them (they report a float dtype, so the check below would not catch them)
        if w.is_quantized:
            w = w.dequantize()
        elif not torch.is_floating_point(w):
            return 1.0
        total += w.numel()
        nonzero += int(torch.count_nonzero(w))
    return nonzero / total if total else 1.0


def describe(model) -> list[LayerSpec]:
    """LayerSpecs of a BERT-style encoder (BERT, RoBERTa, MiniLM), reading the live modules, so a
    pruned, sparsified or spiking model is described as it is."""
    from greenbench.cells.variants import encoder

    specs = []
    config = model.config
    sparse = getattr(config, "greenbench_sparse", None)
    for layer in encoder.layers(model):
        q = layer.query
        d = getattr(layer.attention, "attention_head_size", config.hidden_size // config.num_attention_heads)
        heads = q.out_features // d
        attention: dict[str, Any] = {"kind": "dense"}
        stats = getattr(layer.attention, "greenbench_stats", None)
        if sparse is not None:
            attention = dict(sparse)
            if sparse["kind"] == "threshold" and stats and stats.get("keys"):
                attention["kept_fraction"] = stats["kept"] / stats["keys"]
        spiking = getattr(layer.attention, "ssa", None)
        if spiking is not None and config._attn_implementation == "greenbench_spiking":
            attention = {"kind": "spiking", "time_steps": spiking.time_steps, "firing_rates": spiking.firing_rates()}
        specs.append(
            LayerSpec(
                hidden=q.in_features,
                heads=heads,
                head_dim=d,
                ffn=layer.ffn_in.out_features,
                linear_density=_density(layer.linears()),
                attention=attention,
            )
        )
    return specs
