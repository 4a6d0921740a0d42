import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench import models, variants
from greenbench.variants.adaptive import AdaptiveScheduler, ComplexityEstimator, _Router, calibrate


def test_registry_declares_devices_and_explains_non_applicability():
    assert {"fp32", "tf32", "fp16", "bf16", "autocast_fp16", "int8_dynamic", "int8_weight_only",
            "int4_weight_only", "adaptive"} <= set(variants.REGISTRY)
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
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 30, (n, width), generator=g)
    mask = torch.ones_like(ids)
    for i in range(n):
        mask[i, 3 + i:] = 0
    return ids * mask, mask


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


arrays = st.integers(20, 200).flatmap(lambda n: st.tuples(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.floats(0.5, 1.0), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
))


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
