"""MAC/AC counting: exact small cases and properties."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.measure import macs as flops
from greenbench.data import models
from greenbench.cells import variants
from greenbench.measure.macs import LayerSpec

lengths = st.lists(st.integers(1, 128), min_size=1, max_size=20)


def test_exact_count_for_a_small_layer():
    spec = LayerSpec(hidden=4, heads=2, head_dim=2, ffn=8)
    L = 3
    # qkv 3*3*4*4 + out 3*4*4 + ffn 2*3*4*8 + scores 2*9*2 + values 2*9*2
    assert flops.layer_counts(spec, L).macs_dense == 144 + 48 + 192 + 36 + 36
    assert flops.sentence_counts([spec], L).macs_dense == 456 + 4 * 4 + 4 * 2


@settings(max_examples=50, deadline=None)
@given(lengths)
def test_effective_never_exceeds_dense_and_topk_only_cuts_values(ls):
    dense = [LayerSpec(32, 4, 8, 64)] * 2
    topk = [LayerSpec(32, 4, 8, 64, attention={"kind": "topk", "k": 8})] * 2
    d, t = flops.per_sentence(dense, ls), flops.per_sentence(topk, ls)
    assert d["macs_effective"] == pytest.approx(d["macs_dense"]) and d["acs"] == 0
    assert t["macs_dense"] == pytest.approx(d["macs_dense"]) and t["macs_effective"] <= t["macs_dense"] + 1e-6
    if max(ls) <= 8:
        assert t["macs_effective"] == pytest.approx(d["macs_effective"])


@settings(max_examples=50, deadline=None)
@given(lengths, st.floats(0.0, 1.0))
def test_density_scales_linear_work_and_spiking_moves_attention_to_acs(ls, density):
    base = flops.per_sentence([LayerSpec(32, 4, 8, 64)], ls)
    sparse = flops.per_sentence([LayerSpec(32, 4, 8, 64, linear_density=density)], ls)
    assert sparse["macs_effective"] <= base["macs_effective"] + 1e-6
    silent = {"kind": "spiking", "time_steps": 4, "firing_rates": {"q": 0.0, "k": 0.0, "v": 0.0, "out": 0.0}}
    spk = flops.per_sentence([LayerSpec(32, 4, 8, 64, attention=silent)], ls)
    assert spk["acs"] == 0 and spk["macs_effective"] < base["macs_effective"]
    busy = dict(silent, firing_rates={"q": 0.2, "k": 0.2, "v": 0.2, "out": 0.2})
    assert flops.per_sentence([LayerSpec(32, 4, 8, 64, attention=busy)], ls)["acs"] > 0


def test_mean_over_lengths_is_mean_of_counts_not_count_of_mean():
    spec = [LayerSpec(8, 2, 4, 16)]
    mixed = flops.per_sentence(spec, [2, 10])["macs_dense"]
    assert mixed == pytest.approx(
        (flops.sentence_counts(spec, 2).macs_dense + flops.sentence_counts(spec, 10).macs_dense) / 2
    )
    assert mixed > flops.sentence_counts(spec, 6).macs_dense  # the L^2 terms make the mean larger


def test_theoretical_energy_uses_the_45nm_constants():
    out = flops.per_sentence([LayerSpec(8, 2, 4, 16)], [5])
    assert out["theoretical_energy_uj"] == pytest.approx(out["macs_effective"] * 4.6e-6)


def test_describe_reads_pruned_and_quantized_models(tiny_model_dir):
    from greenbench.cells.variants import encoder, pruning

    model = models.load_classifier(str(tiny_model_dir))
    dense = flops.describe(model)
    assert [s.heads for s in dense] == [4, 4] and all(s.linear_density == 1.0 for s in dense)
    pruned = copy.deepcopy(model)
    pruning.keep_heads(encoder.layers(pruned)[0], [1])
    assert flops.describe(pruned)[0].heads == 1
    int8 = variants.get("int8_dynamic").prepare(copy.deepcopy(model), "cpu", None, {})
    assert [s.heads for s in flops.describe(int8.model)] == [4, 4]
    with pytest.raises(ValueError, match="BERT"):
        flops.describe(_NotAnEncoder())


class _NotAnEncoder(torch.nn.Module):
    @property
    def base_model(self):
        return torch.nn.Linear(2, 2)

    config = type("C", (), {"hidden_size": 2, "num_attention_heads": 1})()
