"""Recovery keeps the best held-out state, the rewrite alone (its un-tuned twin) included."""

import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from greenbench.cells import variants
from greenbench.core import io
from greenbench.data import models
from greenbench.data import recovery
from greenbench.data.training import train_classifier

from conftest import toy_sentences

RECOVERY = {
    "train_subset": 96,
    "epochs": 1,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "weight_decay": 0.0,
    "warmup_ratio": 0.0,
    "max_steps": 0,
    "holdout": 64,
    "holdout_min_tokens": 1,
    "checks": 3,
    "patience": 0,
    "distill": {"alpha": 0.0, "temperature": 2.0},
}


def _tokens(tokenizer, n, seed):
    df = toy_sentences(n, seed=seed)
    ids = [tokenizer(s)["input_ids"] for s in df["sentence"]]
    return pd.DataFrame(
        {
            "idx": df["idx"].astype("int32"),
            "input_ids": ids,
            "attention_mask": [[1] * len(i) for i in ids],
            "label": df["label"].astype("int8"),
            "length": [len(i) for i in ids],
        }
    )


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A tiny classifier fine-tuned on the toy task (a baseline worth keeping) and its train tokens."""
    tokenizer = models.load_tokenizer(str(tiny_model_dir))
    frame = _tokens(tokenizer, 320, seed=5)
    path = tmp_path_factory.mktemp("tokens") / "train.parquet"
    io.write_parquet(frame, path, models.TOKENS_SCHEMA)
    torch.manual_seed(0)
    model = models.load_classifier(str(tiny_model_dir))
    params = {**RECOVERY, "epochs": 6, "learning_rate": 3e-3}
    train_classifier(model, frame, params, 0, tokenizer.pad_token_id or 0, desc="toy baseline")
    out = tmp_path_factory.mktemp("baseline")
    models.save_model(model, tokenizer, out, {"model": "toy"})
    return out, path, frame


def test_check_steps_are_evenly_spaced_and_end_at_the_last_step():
    assert recovery.check_steps(10, 2) == [5, 10]
    assert recovery.check_steps(10, 3) == [4, 7, 10]
    assert recovery.check_steps(2, 5) == [1, 2]
    assert recovery.check_steps(0, 3) == [] and recovery.check_steps(8, 0) == []


@given(st.integers(1, 5000), st.integers(1, 50))
def test_check_steps_properties(total, checks):
    steps = recovery.check_steps(total, checks)
    assert steps == sorted(set(steps)) and steps[-1] == total and steps[0] >= 1
    assert len(steps) == min(total, checks) or len(steps) <= checks


def test_the_holdout_avoids_used_rows_and_short_phrases_and_is_seeded():
    frame = pd.DataFrame({"idx": range(100), "length": [i % 20 for i in range(100)]})
    used = set(range(0, 100, 3))
    held = recovery.holdout(frame, used=used, size=20, min_tokens=10, seed=4)
    assert len(held) == 20 and not set(held.idx) & used and (held.length >= 10).all()
    assert held.equals(recovery.holdout(frame, used=used, size=20, min_tokens=10, seed=4))
    assert recovery.holdout(frame, used=used, size=0, min_tokens=1, seed=4).empty


def test_selection_keeps_the_earliest_best_and_stops_after_patience():
    model = torch.nn.Linear(2, 2)
    sel = recovery.Selection(patience=2)
    scores = [(0, 0.7, 0.5), (10, 0.8, 0.4), (20, 0.8, 0.45), (30, 0.8, 0.45)]
    stops = []
    for step, acc, nll in scores:
        with torch.no_grad():
            model.weight.fill_(step)
        stops.append(sel.offer(step, acc, nll, model))
    assert stops == [False, False, False, True] and sel.best_step == 10
    sel.restore(model)
    assert torch.all(model.weight == 10)
    # equal accuracy, lower loss: better; a later state never replaces an equal one
    assert recovery.Selection.better((0.8, 0.3), (0.8, 0.4)) and not recovery.Selection.better((0.8, 0.4), (0.8, 0.4))
    assert recovery.Selection(patience=0).offer(0, 0.1, 9.9, model) is False


@pytest.mark.parametrize("learning_rate", [1e-3, 0.3])
def test_recovery_never_leaves_a_variant_below_its_untuned_twin(trained, learning_rate, tmp_path):
    """topk16_ft on sentences shorter than 16 tokens: the rewrite alone is the baseline itself. A recovery
    that ruins it (learning rate 0.3) must hand back the un-tuned twin; one that helps keeps its gain."""
    model_dir, path, _ = trained
    recipe = variants.get("topk16_ft")
    tokenizer = models.load_tokenizer(str(model_dir))
    pad = tokenizer.pad_token_id or 0

    def build(out, **over):
        params = {"recovery": {**RECOVERY, "learning_rate": learning_rate, **over}}
        report = recipe.build(model_dir, path, out, "cpu", params, 3, {"train_subset": 0})
        return report, recipe.prepare(models.load_classifier(str(model_dir)), "cpu", out, params).model

    report, kept = build(tmp_path / "kept")
    sel = report["selection"]
    assert report["holdout_examples"] == 64 and [c["step"] for c in sel["checks"]] == [0, 2, 4, 6]
    frame = io.read_parquet(path)
    # the held-out slice is disjoint from the recovery draw (train_subset 96 of 320, seed + 101)
    draw = set(frame.sample(n=96, random_state=3 + 101).idx)
    held = recovery.holdout(frame, used=draw, size=64, min_tokens=1, seed=3)
    twin = models.load_classifier(str(model_dir))  # topk16 on < 16 tokens: the twin is the baseline
    untuned = recovery.score(twin, held, pad)
    assert sel["untuned_accuracy"] == pytest.approx(untuned[0])
    assert recovery.score(kept, held, pad)[0] >= untuned[0]
    assert sel["kept_accuracy"] == pytest.approx(recovery.score(kept, held, pad)[0])
    if learning_rate == 0.3:
        _, last = build(tmp_path / "last", holdout=0)  # no selection: the last step is kept
        assert recovery.score(last, held, pad)[0] < untuned[0]  # the defect the selection prevents
        assert sel["kept_step"] == 0 and sel["kept_untuned"]


def test_early_stopping_trains_fewer_steps_and_says_so(trained, tmp_path):
    model_dir, path, _ = trained
    params = {"recovery": {**RECOVERY, "learning_rate": 0.3, "checks": 6, "patience": 1}}
    report = variants.get("topk16_ft").build(model_dir, path, tmp_path / "a", "cpu", params, 3, {"train_subset": 0})
    sel = report["selection"]
    assert sel["stopped_early"] and report["recovery_steps"] == sel["trained_steps"] < sel["planned_steps"] == 6
    assert sel["kept_step"] == 0
