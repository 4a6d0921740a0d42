"""int4_weight_only's tinygemm layout: padding, multiply-add factor and storage without the padding (CPU only)."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from greenbench.cells.variants import footprint, get
from greenbench.cells.variants.recipe import storage_bytes
from greenbench.cells.variants import quantization as q


def tiny_bert(hidden: int = 128, intermediate: int = 256, layers: int = 2):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=40,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=intermediate,
        max_position_embeddings=32,
        num_labels=2,
    )
    return BertForSequenceClassification(config).eval()


# (K, N) -> padded K, MAC factor, bytes without / with padding, by hand:
# int4 data K*N/2, scales+zeros ceil(K/128)*N*2 values of 2 bytes
MINILM = [
    (384, 384, 1024, 1024 / 384, 384 * 384 // 2 + 3 * 384 * 4, 1024 * 384 // 2 + 8 * 384 * 4),  # 78_336 / 208_896
    (384, 1536, 1024, 1024 / 384, 384 * 1536 // 2 + 3 * 1536 * 4, 1024 * 1536 // 2 + 8 * 1536 * 4),  # 313_344 / 835_584
    (1536, 384, 2048, 2048 / 1536, 1536 * 384 // 2 + 12 * 384 * 4, 2048 * 384 // 2 + 16 * 384 * 4),  # 313_344 / 417_792
]


@pytest.mark.parametrize("k, n, k_pad, factor, unpadded, padded", MINILM)
def test_tinygemm_layout_of_minilm_shapes(k, n, k_pad, factor, unpadded, padded):
    layout = q.int4_tile_layout(k, n)
    assert layout["padded_in_features"] == k_pad and layout["padded_out_features"] == n
    assert layout["mac_padding_factor"] == pytest.approx(factor)
    assert layout["weight_bytes_unpadded"] == unpadded and layout["weight_bytes_padded"] == padded


def test_hand_computed_bytes_and_out_features_padding():
    assert q.int4_tile_layout(384, 384)["weight_bytes_unpadded"] == 78_336
    assert q.int4_tile_layout(384, 384)["weight_bytes_padded"] == 208_896
    assert q.int4_tile_layout(1536, 384)["weight_bytes_padded"] == 417_792
    # already aligned: no padding at all
    aligned = q.int4_tile_layout(2048, 1024)
    assert aligned["mac_padding_factor"] == 1.0
    assert aligned["weight_bytes_unpadded"] == aligned["weight_bytes_padded"] == 2048 * 1024 // 2 + 16 * 1024 * 4
    # N goes up to a multiple of the 8-row tile: 10 -> 16, K 256 -> 1024
    odd = q.int4_tile_layout(256, 10)
    assert (odd["padded_in_features"], odd["padded_out_features"]) == (1024, 16)
    assert odd["mac_padding_factor"] == pytest.approx(1024 * 16 / (256 * 10))
    assert odd["weight_bytes_unpadded"] == 256 * 10 // 2 + 2 * 10 * 4
    assert odd["weight_bytes_padded"] == 1024 * 16 // 2 + 8 * 16 * 4
    with pytest.raises(ValueError):
        q.int4_tile_layout(0, 384)


@pytest.mark.parametrize("n, k", [(384, 384), (1536, 384), (384, 1536), (10, 256)])
def test_layout_is_what_torchao_packs(n, k):
    """torchao's own Int4TilePackedTo4dTensor.from_hp, run on meta tensors (no GPU): same shapes, same bytes."""
    ao = pytest.importorskip("torchao.quantization")
    layout = q.int4_tile_layout(k, n)
    with mock.patch.object(torch.cuda, "get_device_capability", return_value=(8, 0)):
        packed = ao.Int4TilePackedTo4dTensor.from_hp(torch.empty(n, k, dtype=torch.bfloat16, device="meta"), [1, 128])
    assert tuple(packed.qdata.shape) == layout["qdata_shape"] and packed.qdata.dtype == torch.int32
    assert tuple(packed.scale_and_zero.shape) == layout["scale_and_zero_shape"]
    assert packed.scale_and_zero.dtype == torch.bfloat16
    assert storage_bytes(packed) == layout["weight_bytes_padded"]


def test_summary_over_a_tiny_bert_respects_the_high_precision_filter():
    model = tiny_bert()  # 2 layers, hidden 128, intermediate 256
    summary = q.int4_layout_summary(model)
    assert summary["int4_layout"] == "tile_packed_to_4d" and "_weight_int4pack_mm" in summary["int4_kernel"]
    assert summary["int4_quantized_linears"] == 12  # q, k, v, attention out, intermediate, output per layer
    assert summary["int4_k_padding"] == "128\u21921024, 256\u21921024" and summary["int4_n_padding"] == "none"
    # per layer, MACs per token: 4*128*128 + 2*128*256 = 131_072 -> 4*1024*128 + 1024*256 + 1024*128 = 917_504
    assert summary["int4_mac_padding_factor"] == pytest.approx(7.0)
    # per layer unpadded: 4*(8192 + 1*128*4) + (16384 + 1*256*4) + (16384 + 2*128*4) = 69_632
    assert summary["int4_weight_bytes_unpadded"] == 2 * 69_632
    # per layer padded: 4*(65536 + 8*128*4) + (131072 + 8*256*4) + (65536 + 8*128*4) = 487_424
    assert summary["int4_weight_bytes_padded"] == 2 * 487_424
    assert not any("pooler" in name or "classifier" in name for name in q.int4_layers(model))
    # the filter is the quantization's: letting the pooler through adds one 128x128 layer
    keep_all = q.int4_layout_summary(
        model, filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and "classifier" not in fqn
    )
    assert keep_all["int4_quantized_linears"] == 13
    assert keep_all["int4_weight_bytes_unpadded"] == 2 * 69_632 + 8192 + 512


def test_layers_torchao_skips_are_not_counted():
    summary = q.int4_layout_summary(tiny_bert(hidden=32, intermediate=64))  # 32 % 128 != 0: left in bf16
    assert summary["int4_quantized_linears"] == 0 and summary["int4_k_padding"] == "none"
    assert summary["int4_mac_padding_factor"] == 1.0 and summary["int4_weight_bytes_padded"] == 0


def test_resident_takes_the_padding_out_of_linear_and_serialized_bytes():
    measured = {"size_bytes": 5_000_000, "parameters": 1_234, "linear_weight_bytes": 3_000_000}
    out = q.int4_resident(measured, padded_bytes=2_088_960, unpadded_bytes=940_032)
    assert out == {
        "size_bytes": 5_000_000 - 1_148_928,
        "parameters": 1_234,
        "linear_weight_bytes": 3_000_000 - 1_148_928,
    }
    assert measured["linear_weight_bytes"] == 3_000_000  # not changed in place
    assert q.int4_resident(measured, 10, 10) == measured
    with pytest.raises(ValueError):
        q.int4_resident(measured, 10, 11)


def test_int4_prepare_reports_layout_and_unpadded_storage():
    """The registered variant's prepare, run through torchao on meta tensors (no GPU)."""
    pytest.importorskip("torchao.quantization")
    variant = get("int4_weight_only")
    assert variant.prepare is q._int4_weight_only
    assert "1024" in q.INT4_CAVEAT and "_weight_int4pack_mm" in q.INT4_CAVEAT
    model = tiny_bert()
    expected = q.int4_layout_summary(model)
    with mock.patch.object(torch.cuda, "get_device_capability", return_value=(8, 0)):
        prepared = variant.prepare(model, "meta", None, {})
    assert prepared.caveat == q.INT4_CAVEAT
    assert prepared.info["torchao_config"] == "Int4WeightOnlyConfig"
    assert prepared.info["int4_packing_format"] == "tile_packed_to_4d"
    assert {k: prepared.info[k] for k in expected} == expected
    modules = dict(prepared.model.named_modules())
    held = sum(storage_bytes(modules[name].weight) for name in q.int4_layers(model))
    assert held == expected["int4_weight_bytes_padded"]  # the layout predicts what torchao stores
    assert q._keep_high_precision("bert.pooler.dense") and not hasattr(modules["bert.pooler.dense"].weight, "qdata")
    measured = footprint(prepared.model)
    padding = expected["int4_weight_bytes_padded"] - expected["int4_weight_bytes_unpadded"]
    assert prepared.resident["linear_weight_bytes"] == measured["linear_weight_bytes"] - padding
    assert prepared.resident["parameters"] == measured["parameters"]
    assert set(prepared.resident) == set(measured)
