"""Variants II: structured/magnitude pruning, sparse-attention fine-tunes, spiking self-attention."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.measure import macs as flops
from greenbench.core import io
from greenbench.data import models
from greenbench.cells import variants
from greenbench.measure.accuracy import predict
from greenbench.cells.variants import encoder, pruning, spiking

from conftest import SPIKING, padded_batch, toy_sentences

VARIANTS_CONFIG = {
    "recovery": {
        "train_subset": 0,
        "epochs": 1,
        "batch_size": 16,
        "learning_rate": 1e-3,
        "weight_decay": 0.01,
        "warmup_ratio": 0.1,
        "max_steps": 6,
        "distill": {"alpha": 0.5, "temperature": 2.0},
    },
    "pruning": {"importance_batches": 2, "min_ffn_fraction": 0.1},
    "spiking": SPIKING,
}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return models.load_classifier(str(tiny_model_dir))


@pytest.fixture(scope="module")
def train_tokens(tiny_model_dir, tmp_path_factory):
    tok = models.load_tokenizer(str(tiny_model_dir))
    df = toy_sentences(96, seed=3)
    ids = [tok(s)["input_ids"] for s in df["sentence"]]
    frame = pd.DataFrame(
        {
            "idx": df["idx"].astype("int32"),
            "input_ids": ids,
            "attention_mask": [[1] * len(i) for i in ids],
            "label": df["label"].astype("int8"),
            "length": [len(i) for i in ids],
        }
    )
    path = tmp_path_factory.mktemp("tokens") / "train.parquet"
    io.write_parquet(frame, path, models.TOKENS_SCHEMA)
    return path, frame


def _batch(n=5, width=10, seed=0):
    return padded_batch(n, width, seed, first_length=4)


def _logits(model, ids, mask):
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask).logits


# -- structured pruning -----------------------------------------------------------------------


def test_keeping_every_head_and_neuron_changes_nothing(tiny):
    model = copy.deepcopy(tiny).eval()
    ids, mask = _batch()
    before = _logits(model, ids, mask)
    for h in encoder.layers(model):
        pruning.keep_heads(h, list(range(encoder.num_heads(h))))
        pruning.keep_ffn(h, list(range(h.ffn_in.out_features)))
    assert torch.allclose(before, _logits(model, ids, mask), atol=1e-6)


def test_removing_heads_equals_zeroing_their_output(tiny):
    """Slicing a head out must equal the dense model with that head's contribution zeroed."""
    ids, mask = _batch()
    pruned, masked = copy.deepcopy(tiny).eval(), copy.deepcopy(tiny).eval()
    layer = encoder.layers(pruned)[0]
    d = encoder.head_dim(layer)
    pruning.keep_heads(layer, [0, 2])
    pruning.keep_ffn(layer, list(range(0, layer.ffn_in.out_features, 2)))
    ref = encoder.layers(masked)[0]
    with torch.no_grad():
        for head in (1, 3):
            ref.output.weight[:, head * d : (head + 1) * d] = 0
        ref.ffn_out.weight[:, 1::2] = 0
    assert layer.query.weight.shape == (2 * d, layer.query.in_features)
    assert layer.output.weight.shape[1] == 2 * d and layer.attention.num_attention_heads == 2
    assert torch.allclose(_logits(pruned, ids, mask), _logits(masked, ids, mask), atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=8), min_size=1, max_size=5),
    st.floats(0, 0.95),
)
def test_select_global_drops_the_requested_share_and_respects_minimums(scores, ratio):
    scores = [np.array(s) for s in scores]
    kept = pruning.select_global(scores, ratio, [1] * len(scores))
    total = sum(len(s) for s in scores)
    dropped = total - sum(len(k) for k in kept)
    assert all(1 <= len(k) for k in kept)
    assert dropped <= round(ratio * total)
    assert dropped == min(round(ratio * total), total - len(scores))  # only the minimums can stop it
    assert all(sorted(set(k)) == k and all(0 <= u < len(s) for u in k) for k, s in zip(kept, scores))


def test_select_global_drops_the_least_important_units():
    kept = pruning.select_global([np.array([3.0, 1.0, 2.0, 4.0])], 0.5, [1])
    assert kept == [[0, 3]]


def test_taylor_importance_has_one_score_per_head_and_neuron(tiny, train_tokens):
    _, frame = train_tokens
    heads, ffn = pruning.taylor_importance(copy.deepcopy(tiny), frame, 0, batches=2, batch_size=8)
    for h, f, layer in zip(heads, ffn, encoder.layers(tiny)):
        assert h.shape == (encoder.num_heads(layer),) and f.shape == (layer.ffn_in.out_features,)
        assert np.isfinite(h).all() and (h >= 0).all() and h.sum() > 0


# -- magnitude pruning ------------------------------------------------------------------------


def test_global_magnitude_masks_hit_the_target_and_keep_the_largest():
    g = torch.Generator().manual_seed(0)
    weights = [torch.randn(8, 12, generator=g), torch.randn(4, 8, generator=g)]
    masks = pruning.magnitude_masks(weights, 0.5)
    kept = torch.cat([w[m].abs() for w, m in zip(weights, masks)])
    dropped = torch.cat([w[~m].abs() for w, m in zip(weights, masks)])
    assert sum(int(m.sum()) for m in masks) == 64 and kept.min() >= dropped.max()


def test_two_four_masks_keep_two_of_every_four():
    w = torch.randn(6, 16, generator=torch.Generator().manual_seed(1))
    (mask,) = pruning.magnitude_masks([w], pattern="2:4")
    assert (mask.reshape(6, 4, 4).sum(-1) == 2).all()
    with pytest.raises(ValueError, match="divisible by 4"):
        pruning.magnitude_masks([torch.randn(2, 6)], pattern="2:4")


# -- trained artifacts: build -> prepare ---------------------------------------------------------


@pytest.mark.parametrize("name", ["prune_heads50", "magnitude50", "topk16_ft", "spiking"])
def test_trained_variant_builds_reloads_and_predicts_deterministically(name, tiny_model_dir, train_tokens, tmp_path):
    path, frame = train_tokens
    recipe = variants.get(name)
    params = variants.params_for(VARIANTS_CONFIG, name)
    report = recipe.build(tiny_model_dir, path, tmp_path / "a", "cpu", params, 7, {})
    assert report["recovery_steps"] == 6 and (tmp_path / "a" / "plan.json").exists()
    recipe.build(tiny_model_dir, path, tmp_path / "b", "cpu", params, 7, {})
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same seed, same weights

    def run():
        prepared = recipe.prepare(models.load_classifier(str(tiny_model_dir)), "cpu", tmp_path / "a", params)
        return prepared, predict(prepared, frame, 16, 0)

    (prepared, first), (_, second) = run(), run()
    pd.testing.assert_frame_equal(first, second)
    if name == "prune_heads50":
        assert report["heads_kept"] == 4 and report["after"]["parameters"] < report["baseline"]["parameters"]
    if name == "magnitude50":
        assert prepared.info["sparsity"] >= 0.5 - 1e-3  # zeros survived recovery and reload


@pytest.mark.parametrize("train_embeddings", [False, True])
def test_recovery_keeps_the_baselines_word_embeddings_unless_told(
    train_embeddings, tiny_model_dir, train_tokens, tmp_path
):
    path, _ = train_tokens
    config = copy.deepcopy(VARIANTS_CONFIG)
    config["recovery"].update(train_embeddings=train_embeddings, holdout=0)
    params = variants.params_for(config, "prune_ffn25")
    variants.get("prune_ffn25").build(tiny_model_dir, path, tmp_path / "a", "cpu", params, 7, {})
    built = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    baseline = models.load_classifier(str(tiny_model_dir)).state_dict()
    key = next(k for k in built if k.endswith("word_embeddings.weight"))
    assert torch.equal(built[key], baseline[key]) is not train_embeddings
    changed = [k for k in built if k.endswith("dense.weight") and built[k].shape == baseline[k].shape]
    assert any(not torch.equal(built[k], baseline[k]) for k in changed)  # the encoder recovered either way


def test_trained_variant_without_artifact_says_so(tiny):
    with pytest.raises(ValueError, match="needs its trained artifact"):
        variants.get("magnitude50").prepare(copy.deepcopy(tiny), "cpu", None, {})


def test_magnitude_constraint_keeps_pruned_weights_at_zero(tiny):
    model = copy.deepcopy(tiny)
    recipe = pruning._magnitude(0.5, "global")
    plan = recipe.plan(model, None, {}, 0, 0)
    recipe.apply(model, plan)
    reapply = recipe.constraint(model, plan)
    with torch.no_grad():
        for w in pruning._encoder_weights(model):
            w.add_(1.0)  # an optimizer step that moves every weight
    reapply()
    assert abs(pruning.sparsity_of(pruning._encoder_weights(model)) - 0.5) < 1e-3


# -- spiking self-attention -------------------------------------------------------------------


def test_lif_emits_binary_spikes_at_a_rate_that_grows_with_current():
    currents = torch.linspace(0, 3, 7).view(1, 7).expand(16, 7)
    spikes = spiking.lif(currents, tau=2.0, v_threshold=1.0)
    assert spikes.shape == (16, 7) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    rates = spikes.mean(0)
    assert (rates[1:] >= rates[:-1]).all() and rates[0] == 0 and rates[-1] > 0.4


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    steps=st.integers(1, 6),
    tau=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    v_threshold=st.sampled_from([0.25, 0.5, 1.0]),
    alpha=st.sampled_from([1.0, 2.0, 4.0]),
    expanded=st.booleans(),
)
def test_fused_lif_equals_the_step_by_step_lif_bit_for_bit(seed, steps, tau, v_threshold, alpha, expanded):
    """Same spikes and the same gradient, to the bit (so a recovery trains the same weights), for a
    direct-encoded input (one current expanded over the steps, as Q/K/V) and one current per step (as the
    attention output)."""
    g = torch.Generator().manual_seed(seed)
    shape = (3, 2, 5, 4)
    base = torch.randn(shape if expanded else (steps, *shape), generator=g) * 2
    upstream = torch.randn(steps, *shape, generator=g)
    grads, outs = [], []
    for fn in (spiking.lif_step_by_step, spiking.lif):
        leaf = base.clone().requires_grad_()
        currents = leaf.unsqueeze(0).expand(steps, *shape) if expanded else leaf
        out = fn(currents, tau, v_threshold, alpha)
        (out * upstream).sum().backward()
        outs.append(out.detach())
        grads.append(leaf.grad)
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0].signbit(), grads[1].signbit())
    assert grads[0].abs().sum() > 0  # the comparison is not between two zero gradients


def test_surrogate_gradient_flows_through_the_spike():
    x = torch.tensor([-1.0, -0.1, 0.0, 0.1, 1.0], requires_grad=True)
    spiking.spike(x, alpha=2.0).sum().backward()
    expected = (2.0 / 2) / (1 + (math.pi / 2 * 2.0 * x.detach()) ** 2)
    assert torch.allclose(x.grad, expected) and x.grad[2] == x.grad.max()


def _spiking_model(tiny):
    model = copy.deepcopy(tiny).eval()
    spiking.attach(model, SPIKING)
    return model


def test_spiking_model_shapes_padding_and_determinism(tiny):
    model = _spiking_model(tiny)
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    short = _logits(model, ids, torch.ones_like(ids))
    padded = _logits(model, torch.tensor([[5, 6, 7, 8, 9, 0, 0]]), torch.tensor([[1, 1, 1, 1, 1, 0, 0]]))
    assert short.shape == (1, 2) and torch.allclose(short, padded, atol=1e-5)  # padded keys never attended
    assert torch.equal(short, _logits(model, ids, torch.ones_like(ids)))


def test_spiking_attention_outputs_spike_rates(tiny):
    model = _spiking_model(tiny)
    layer = encoder.layers(model)[0]
    q = torch.randn(2, encoder.num_heads(layer), 6, encoder.head_dim(layer))
    out, _ = spiking.spiking_attention(layer.attention, q, q.clone(), q.clone(), None)
    assert out.shape == (2, 6, encoder.num_heads(layer), encoder.head_dim(layer))
    assert set((out * SPIKING["time_steps"]).round().unique().tolist()) <= set(range(SPIKING["time_steps"] + 1))


def test_gradients_reach_the_projections_through_the_surrogate(tiny):
    model = _spiking_model(tiny).train()
    ids, mask = _batch()
    model(input_ids=ids, attention_mask=mask, labels=torch.zeros(len(ids), dtype=torch.long)).loss.backward()
    layer = encoder.layers(model)[0]
    for param in (
        layer.query.weight,
        layer.key.weight,
        layer.attention.ssa.norm_q.weight,
        layer.attention.ssa.log_scale,
    ):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_firing_rates_are_recorded_only_while_recording(tiny):
    model = _spiking_model(tiny)
    ids, mask = _batch()
    _logits(model, ids, mask)
    assert spiking.firing_rates(model) == [None] * len(encoder.layers(model))
    with variants.recording_stats():
        _logits(model, ids, mask)
    rates = spiking.firing_rates(model)
    assert all(set(r) == {"q", "k", "v", "out"} and all(0 <= x <= 1 for x in r.values()) for r in rates)
    spec = flops.describe(model)[0]
    assert spec.attention["kind"] == "spiking" and spec.attention["firing_rates"] == rates[0]


def test_config_names_the_missing_block_for_a_trained_variant():
    from greenbench.config.checks import semantic_errors

    cfg = {"study": {"models": [], "variants": ["spiking"]}, "variants": {"recovery": {}}, "models": {}}
    errors = semantic_errors(cfg)
    assert any("'variants.spiking'" in e and "study.variants[0]" in e for e in errors)


def test_a_variant_block_can_override_the_shared_recovery_block():
    cfg = {
        "recovery": {"train_subset": 6000, "epochs": 1},
        "spiking": {"time_steps": 4, "recovery": {"train_subset": 20000}},
    }
    params = variants.params_for(cfg, "spiking")
    assert params["recovery"] == {"train_subset": 20000, "epochs": 1} and params["time_steps"] == 4
    assert variants.params_for(cfg, "magnitude50")["recovery"]["train_subset"] == 6000
    assert cfg["recovery"]["train_subset"] == 6000  # the shared block itself is untouched
