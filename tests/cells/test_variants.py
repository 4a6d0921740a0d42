import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.data import models
from greenbench.cells import variants
from greenbench.cells.variants import native
from greenbench.cells.variants.adaptive import AdaptiveScheduler, ComplexityEstimator, _Router, calibrate

from conftest import padded_batch


def test_registry_declares_devices_and_explains_non_applicability():
    assert {
        "fp32",
        "tf32",
        "fp16",
        "bf16",
        "autocast_fp16",
        "int8_dynamic",
        "int8_weight_only",
        "int4_weight_only",
        "adaptive",
    } <= set(variants.REGISTRY)
    for v in variants.REGISTRY.values():
        assert set(v.devices) <= {"cpu", "cuda"} and v.description
    assert "cuda" in variants.get("fp16").applicability("cpu")
    assert "cpu" in variants.get("int8_dynamic").applicability("cuda")
    assert variants.get("int8_dynamic").applicability("cpu") is None
    with pytest.raises(KeyError, match="unknown variant"):
        variants.get("fp7")


def test_register_rejects_duplicates_and_unknown_devices():
    fp32 = variants.get("fp32")
    with pytest.raises(ValueError, match="twice"):
        variants.register(fp32)
    with pytest.raises(ValueError, match="unknown devices"):
        variants.register(variants.Variant("x", "f", ("tpu",), "d", fp32.prepare))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return models.load_classifier(str(tiny_model_dir))


def _batch(n=6, width=12, seed=0):
    return padded_batch(n, width, seed, first_length=3)


def test_int8_dynamic_shrinks_linears_keeps_head_and_agrees(tiny):
    fp32 = variants.get("fp32").prepare(copy.deepcopy(tiny), "cpu", None, {})
    int8 = variants.get("int8_dynamic").prepare(copy.deepcopy(tiny), "cpu", None, {})
    a, b = variants.footprint(fp32.model), variants.footprint(int8.model)
    assert b["linear_weight_bytes"] * 2 <= a["linear_weight_bytes"]
    assert isinstance(int8.model.classifier, torch.nn.Linear)  # head stays high precision
    ids, mask = _batch()
    with torch.inference_mode():
        assert torch.allclose(fp32.forward(ids, mask), int8.forward(ids, mask), atol=0.05)


def test_estimator_torch_matches_numpy_and_grows_with_length():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, size=rng.integers(3, 20)) for _ in range(200)]
    est = ComplexityEstimator.fit(seqs, 50)
    ids, mask = _batch(n=6, width=12)
    seq_list = [ids[i, : int(mask[i].sum())].numpy() for i in range(6)]
    assert np.allclose(est.score_torch(ids, mask).numpy(), est.score_numpy(seq_list), atol=1e-4)
    same_token = [np.full(n, 7) for n in (3, 6, 12)]
    assert np.all(np.diff(est.score_numpy(same_token)) > 0)


def test_estimator_roundtrip(tmp_path):
    est = ComplexityEstimator.fit([np.array([1, 2, 3]), np.array([2, 2])], 5)
    est.save(tmp_path)
    back = ComplexityEstimator.load(tmp_path)
    assert np.allclose(back.log_probs, est.log_probs) and back.length_mean == est.length_mean


arrays = st.integers(20, 200).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-3, 3, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(arrays, st.floats(0, 0.2), st.sampled_from(["agreement", "accuracy"]))
def test_calibration_respects_its_constraint(arrs, tolerance, criterion):
    scores, cheap, conf, precise, labels = map(np.asarray, arrs)
    sched, report = calibrate(scores, cheap, conf, precise, labels, tolerance, criterion=criterion)
    tier = sched.final_tier(scores, conf)
    routed = np.where(tier == 0, cheap, precise)
    assert report["cheap_share"] == pytest.approx((tier == 0).mean())
    if criterion == "agreement":
        assert (routed != precise).mean() <= tolerance + 1e-9
    else:
        assert (routed == labels).mean() >= (precise == labels).mean() - tolerance - 1e-9


@settings(max_examples=40, deadline=None)
@given(arrays)
def test_identical_tiers_route_everything_cheap(arrs):
    scores, cheap, conf, _, labels = map(np.asarray, arrs)
    _, report = calibrate(scores, cheap, conf, cheap, labels, 0.0)
    assert report["cheap_share"] == 1.0


def test_router_sends_each_query_to_one_tier(tiny):
    cheap = variants.get("int8_dynamic").prepare(copy.deepcopy(tiny), "cpu", None, {})
    precise = variants.get("fp32").prepare(copy.deepcopy(tiny), "cpu", None, {})
    est = ComplexityEstimator(np.zeros(40), 0.0, 1.0, 0.0, 1.0)  # score = length
    ids, mask = _batch(n=6)
    with torch.inference_mode():
        everything_precise = _Router(cheap, precise, est, AdaptiveScheduler(-1e9, 0.0), ["a", "b"])
        assert torch.allclose(everything_precise.forward(ids, mask), precise.forward(ids, mask), atol=1e-5)
        assert everything_precise.info["tier_counts"] == [0, 6]
        everything_cheap = _Router(cheap, precise, est, AdaptiveScheduler(1e9, 0.0), ["a", "b"])
        assert torch.allclose(everything_cheap.forward(ids, mask), cheap.forward(ids, mask), atol=1e-5)
        split = _Router(cheap, precise, est, AdaptiveScheduler(5.5, 0.0), ["a", "b"])  # lengths 3..8
        split.forward(ids, mask)
        assert split.info["tier_counts"] == [3, 3]
        assert split.last_routes.tolist() == [0, 0, 0, 1, 1, 1]


def _logits(prepared, ids, mask):
    with torch.inference_mode():
        return prepared.forward(ids, mask)


def test_topk_with_k_at_least_length_equals_dense(tiny):
    ids, mask = _batch(n=4, width=8)
    dense = variants.get("dense_eager").prepare(copy.deepcopy(tiny), "cpu", None, {})
    topk = variants.get("topk8").prepare(copy.deepcopy(tiny), "cpu", None, {})  # 8 >= every length here
    assert torch.allclose(_logits(dense, ids, mask), _logits(topk, ids, mask), atol=1e-5)
    sdpa = variants.get("fp32").prepare(copy.deepcopy(tiny), "cpu", None, {})
    assert torch.allclose(_logits(dense, ids, mask), _logits(sdpa, ids, mask), atol=1e-4)


def test_sparse_attention_respects_padding_and_sparsifies():
    from greenbench.cells.variants.sparse_attention import sparse_attention

    class M(torch.nn.Module):
        def __init__(self, rule):
            super().__init__()
            self.config = type("C", (), {"greenbench_sparse": rule})()

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 4, generator=g) for _ in range(3))
    mask = torch.zeros(2, 1, 1, 10)
    mask[:, :, :, 7:] = torch.finfo(torch.float32).min  # last 3 keys are padding
    _, probs = sparse_attention(M({"kind": "topk", "k": 4}), q, k, v, mask)
    assert probs.shape == (2, 3, 10, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 3, 10))
    assert ((probs > 0).sum(-1) <= 4).all() and (probs[..., 7:] == 0).all()
    _, probs = sparse_attention(M({"kind": "threshold", "tau": 0.5}), q, k, v, mask)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 3, 10)) and (probs[..., 7:] == 0).all()
    assert ((probs > 0).sum(-1) < 7).float().mean() > 0.5  # most rows drop some keys


def test_sparse_attention_passes_gradients():
    from greenbench.cells.variants.sparse_attention import sparse_attention

    class M(torch.nn.Module):
        config = type("C", (), {"greenbench_sparse": {"kind": "topk", "k": 3}})()

    q = torch.randn(1, 2, 6, 4, requires_grad=True)
    out, _ = sparse_attention(M(), q, torch.randn(1, 2, 6, 4), torch.randn(1, 2, 6, 4), None)
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


def test_sparse_attention_accepts_boolean_masks():
    from greenbench.cells.variants.sparse_attention import sparse_attention

    class M(torch.nn.Module):
        config = type("C", (), {"greenbench_sparse": {"kind": "topk", "k": 10}})()

    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 1, 5, 4, generator=g) for _ in range(3))
    keep = torch.tensor([True, True, True, False, False]).view(1, 1, 1, 5)
    additive = torch.zeros(1, 1, 1, 5).masked_fill(~keep, torch.finfo(torch.float32).min)
    out_bool, p_bool = sparse_attention(M(), q, k, v, keep)
    out_add, p_add = sparse_attention(M(), q, k, v, additive)
    assert torch.allclose(out_bool, out_add) and (p_bool[..., 3:] == 0).all()


def test_sparse_variant_ignores_padding_in_a_real_model(tiny):
    """Appending padding must not change a sentence's logits (the kernel receives the padding mask)."""
    topk = variants.get("topk16").prepare(copy.deepcopy(tiny), "cpu", None, {})
    ids = torch.tensor([[5, 6, 7, 8]])
    short = _logits(topk, ids, torch.ones_like(ids))
    padded_ids = torch.tensor([[5, 6, 7, 8, 0, 0, 0]])
    padded = _logits(topk, padded_ids, torch.tensor([[1, 1, 1, 1, 0, 0, 0]]))
    assert torch.allclose(short, padded, atol=1e-5)


# -- recipes a CPU would only emulate (variants.cpu_kernels) -------------------------------------------

AVX2_ONLY = {"cpu_vendor": "amd", "amx": False, "avx512_bf16": False, "avx512_vnni": False, "avx2": True}


@pytest.mark.parametrize("name", ["bf16", "int8_dynamic_ao", "bf16@aot_inductor", "int8_dynamic_ao@onnxruntime"])
def test_emulated_recipe_is_skipped_on_a_cpu_without_its_features_and_measured_when_asked(name):
    recipe = variants.get(name)
    reason = native.emulation(recipe, "cpu", {}, isa=AVX2_ONLY)
    assert reason and "variants.cpu_kernels.emulated: measure" in reason and recipe.recipe_name in reason
    assert native.emulation(recipe, "cpu", {"cpu_kernels": {"emulated": "measure"}}, isa=AVX2_ONLY) is None
    assert native.emulation(recipe, "cuda", {}, isa=AVX2_ONLY) is None


@pytest.mark.parametrize(
    "name, feature",
    [("bf16", "avx512_bf16"), ("bf16", "amx"), ("int8_dynamic_ao", "avx512_vnni"), ("int8_dynamic_ao", "amx")],
)
def test_one_native_feature_is_enough(name, feature):
    assert native.emulation(variants.get(name), "cpu", {}, isa={**AVX2_ONLY, feature: True}) is None


def test_unknown_or_non_x86_cpus_are_never_guessed_emulated():
    bf16 = variants.get("bf16")
    assert native.emulation(bf16, "cpu", {}, isa={**AVX2_ONLY, "avx512_bf16": "unknown"}) is None
    assert native.emulation(bf16, "cpu", {}, isa={**AVX2_ONLY, "cpu_vendor": "arm"}) is None
    assert native.emulation(variants.get("fp32"), "cpu", {}, isa=AVX2_ONLY) is None


def test_an_emulated_recipe_refuses_to_prepare_and_measures_when_asked(tiny_model_dir, monkeypatch):
    from greenbench.core import host

    monkeypatch.setattr(host, "cpu_isa", lambda *a, **k: AVX2_ONLY)
    bf16 = variants.get("bf16")
    with pytest.raises(variants.NotApplicable, match="no native kernels for bf16"):
        bf16.prepare(models.load_classifier(str(tiny_model_dir)), "cpu", None, {})
    prepared = bf16.prepare(
        models.load_classifier(str(tiny_model_dir)), "cpu", None, {"cpu_kernels": {"emulated": "measure"}}
    )
    assert next(prepared.model.parameters()).dtype == torch.bfloat16


def test_emulation_setting_reaches_the_recipes_and_their_runtime_cells_only():
    config = {"cpu_kernels": {"emulated": "measure"}, "recovery": {"epochs": 1}}
    assert variants.params_for(config, "bf16")["cpu_kernels"] == {"emulated": "measure"}
    assert variants.params_for(config, "int8_dynamic_ao@aot_inductor")["cpu_kernels"] == {"emulated": "measure"}
    assert "cpu_kernels" not in variants.params_for(config, "fp32")
