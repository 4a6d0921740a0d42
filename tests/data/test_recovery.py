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

from conftest import SPIKING, toy_sentences


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
    "criterion": "accuracy",
    "checks": 3,
    "skip_below_kl": 0.0,
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
    sel = recovery.Selection(patience=2, criterion="accuracy")
    scores = [(0, 0.7, 0.5), (10, 0.8, 0.4), (20, 0.8, 0.45), (30, 0.8, 0.45)]
    stops = []
    for step, acc, nll in scores:
        with torch.no_grad():
            model.weight.fill_(step)
        stops.append(sel.offer(step, {"accuracy": acc, "nll": nll}, model))
    assert stops == [False, False, False, True] and sel.best_step == 10
    sel.restore(model)
    assert torch.all(model.weight == 10)
    # a later state never replaces an equal one
    assert not recovery.Selection.better((0.8, -0.4), (0.8, -0.4))
    assert recovery.Selection(patience=0, criterion="accuracy").offer(0, {"accuracy": 0.1, "nll": 9.9}, model) is False


def test_fidelity_ranks_by_divergence_from_the_baseline_then_accuracy():
    model = torch.nn.Linear(2, 2)
    sel = recovery.Selection(patience=0, criterion="fidelity")
    for step, acc, kl in [(0, 0.9, 0.05), (10, 0.8, 0.02), (20, 0.95, 0.03), (30, 0.85, 0.02)]:
        sel.offer(step, {"accuracy": acc, "nll": 0.3, "kl": kl}, model)
    assert sel.best_step == 30  # equal divergence, higher accuracy
    assert sel.report(30, 30)["kept_kl"] == 0.02 and sel.report(30, 30)["criterion"] == "fidelity"
    with pytest.raises(ValueError, match="unknown recovery criterion 'loss'"):
        recovery.Selection(criterion="loss")


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
    untuned = recovery.score(twin, held, pad)["accuracy"]
    assert sel["untuned_accuracy"] == pytest.approx(untuned)
    assert recovery.score(kept, held, pad)["accuracy"] >= untuned
    assert sel["kept_accuracy"] == pytest.approx(recovery.score(kept, held, pad)["accuracy"])
    if learning_rate == 0.3:
        _, last = build(tmp_path / "last", holdout=0)  # no selection: the last step is kept
        assert recovery.score(last, held, pad)["accuracy"] < untuned  # the defect the selection prevents
        assert sel["kept_step"] == 0 and sel["kept_untuned"]


@pytest.mark.parametrize("learning_rate", [3e-3, 5.0])
def test_recovery_by_fidelity_never_leaves_a_rewrite_further_from_the_baseline_than_its_twin(
    trained, learning_rate, tmp_path
):
    """spiking: the rewrite alone (new attention, untrained) diverges from the baseline; the kept state never
    diverges more (on the held-out slice), and a recovery that ruins the model (learning rate 0.3) hands back
    the twin."""
    model_dir, path, _ = trained
    recipe = variants.get("spiking")
    pad = models.load_tokenizer(str(model_dir)).pad_token_id or 0
    recovery_params = {**RECOVERY, "criterion": "fidelity", "learning_rate": learning_rate}
    recovery_params["distill"] = {"alpha": 0.5, "temperature": 2.0}

    def build(out, **over):
        params = variants.params_for({"recovery": {**recovery_params, **over}, "spiking": SPIKING}, "spiking")
        report = recipe.build(model_dir, path, out, "cpu", params, 3, {"train_subset": 0})
        return report, recipe.prepare(models.load_classifier(str(model_dir)), "cpu", out, params).model

    report, kept = build(tmp_path / "kept")
    sel = report["selection"]
    frame = io.read_parquet(path)
    draw = set(frame.sample(n=96, random_state=3 + 101).idx)
    held = recovery.holdout(frame, used=draw, size=64, min_tokens=1, seed=3)
    reference = recovery.teacher_logits(models.load_classifier(str(model_dir)), held, pad)
    kept_kl = recovery.score(kept, held, pad, reference)["kl"]
    assert sel["criterion"] == "fidelity" and sel["untuned_kl"] > 0
    assert kept_kl == pytest.approx(sel["kept_kl"], rel=1e-4) and kept_kl <= sel["untuned_kl"] + 1e-9
    if learning_rate == 5.0:
        _, last = build(tmp_path / "last", holdout=0)
        assert recovery.score(last, held, pad, reference)["kl"] > sel["untuned_kl"]  # what the selection prevents
        assert sel["kept_untuned"]
    else:
        assert not sel["kept_untuned"] and kept_kl < sel["untuned_kl"]  # a recovery that helps keeps its gain


def test_early_stopping_trains_fewer_steps_and_says_so(trained, tmp_path):
    model_dir, path, _ = trained
    params = {"recovery": {**RECOVERY, "learning_rate": 0.3, "checks": 6, "patience": 1}}
    report = variants.get("topk16_ft").build(model_dir, path, tmp_path / "a", "cpu", params, 3, {"train_subset": 0})
    sel = report["selection"]
    assert sel["stopped_early"] and report["recovery_steps"] == sel["trained_steps"] < sel["planned_steps"] == 6
    assert sel["kept_step"] == 0


def test_a_rewrite_already_close_to_the_baseline_is_kept_without_training(trained, tmp_path):
    """topk16_ft on sentences shorter than 16 tokens is the baseline itself (held-out KL 0): below
    ``skip_below_kl`` no step is trained and the stored weights are the twin's; spiking, far from the
    baseline, still trains under the same threshold."""
    model_dir, path, _ = trained
    distill = {"alpha": 0.5, "temperature": 2.0}
    params = {"recovery": {**RECOVERY, "learning_rate": 0.3, "skip_below_kl": 0.015, "distill": distill}}
    report = variants.get("topk16_ft").build(model_dir, path, tmp_path / "a", "cpu", params, 3, {"train_subset": 0})
    sel = report["selection"]
    assert report["recovery_steps"] == sel["trained_steps"] == 0 and sel["planned_steps"] == 6
    assert report["teacher_logits"] is None  # no training, so no teacher pass over the draw
    assert sel["kept_untuned"] and sel["skipped_below_kl"] == 0.015 and sel["untuned_kl"] < 0.015
    assert [c["step"] for c in sel["checks"]] == [0]
    stored = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    baseline = models.load_classifier(str(model_dir)).state_dict()
    assert all(torch.equal(stored[k], baseline[k]) for k in stored)
    assert not (tmp_path / "a" / "training_log.parquet").exists()
    spiking = variants.params_for(
        {"recovery": {**RECOVERY, "skip_below_kl": 0.015, "distill": distill}, "spiking": SPIKING}, "spiking"
    )
    far = variants.get("spiking").build(model_dir, path, tmp_path / "s", "cpu", spiking, 3, {"train_subset": 0})
    assert far["recovery_steps"] == 6 and far["selection"]["skipped_below_kl"] is None
    assert far["teacher_logits"] == "computed"
    assert far["selection"]["untuned_kl"] >= 0.015


@given(kl=st.floats(0, 10), threshold=st.floats(0, 10))
def test_close_enough_is_a_strict_threshold_and_zero_turns_it_off(kl, threshold):
    assert recovery.close_enough({"kl": kl}, threshold) == (threshold > 0 and kl < threshold)
    assert not recovery.close_enough({"kl": kl}, 0.0) and not recovery.close_enough({"accuracy": 0.5}, threshold)


# -- teacher logits, computed once per recovery draw -----------------------------------------------------


def test_a_build_reading_shared_teacher_logits_trains_exactly_as_one_computing_them(trained, tmp_path):
    baseline, path, frame = trained
    params = {"recovery": {**RECOVERY, "max_steps": 8, "distill": {"alpha": 0.5, "temperature": 2.0}}}
    params["pruning"] = {"importance_batches": 2, "min_ffn_fraction": 0.1}
    shared = tmp_path / "teacher.parquet"
    recovery.write_teacher_logits(baseline, path, shared, examples=RECOVERY["train_subset"], seed=3)
    recipe = variants.get("prune_heads25")
    own = recipe.build(baseline, path, tmp_path / "own", "cpu", params, 3, {})
    read = recipe.build(baseline, path, tmp_path / "read", "cpu", params, 3, {}, teacher=shared)
    assert own["teacher_logits"] == "computed" and read["teacher_logits"] == "shared"
    a = torch.load(tmp_path / "own" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "read" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # and distillation changed the training: without it, other weights
    plain = {**params, "recovery": {**params["recovery"], "distill": {"alpha": 0.0, "temperature": 2.0}}}
    recipe.build(baseline, path, tmp_path / "plain", "cpu", plain, 3, {})
    c = torch.load(tmp_path / "plain" / "model.pt", weights_only=True)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_teacher_logits_are_the_baselines_eval_answers_in_row_order(trained):
    baseline, _, frame = trained
    model = models.load_classifier(str(baseline)).eval()
    logits = recovery.teacher_logits(model, frame, 0, batch_size=7)
    row = frame.iloc[[5]]
    with torch.no_grad():
        one = model(
            input_ids=torch.tensor([row["input_ids"].iloc[0]]),
            attention_mask=torch.ones(1, row["length"].iloc[0], dtype=torch.long),
        ).logits
    assert logits.shape == (len(frame), 2)
    assert torch.allclose(torch.from_numpy(logits[5]), one[0], atol=1e-5)


def test_stored_teacher_logits_of_another_draw_are_refused_by_name(trained):
    _, _, frame = trained
    stored = recovery.teacher_frame(frame.iloc[:10], recovery.np.zeros((10, 2), dtype="float32"))
    with pytest.raises(ValueError, match=r"teacher\.parquet: 10 of the 15 recovery examples have no teacher logits"):
        recovery.aligned_teacher(stored, frame.iloc[5:20], "teacher.parquet")
    aligned = recovery.aligned_teacher(
        recovery.teacher_frame(frame, recovery.np.arange(len(frame) * 2, dtype="float32").reshape(-1, 2)),
        frame.iloc[[3, 1]],
    )
    assert aligned.tolist() == [[6.0, 7.0], [2.0, 3.0]]
