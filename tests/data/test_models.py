import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.measure import accuracy as evaluate
from greenbench.core import io
from greenbench.data import models, training
from greenbench.data.batching import pad
from greenbench.data.sst2 import DATASET_SCHEMA

from conftest import toy_sentences

PARAMS = {
    "train_subset": 0,
    "epochs": 8,
    "batch_size": 8,
    "learning_rate": 3e-3,
    "weight_decay": 0.01,
    "warmup_ratio": 0.1,
    "max_steps": 0,
}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("tok")
    for split, seed in (("train", 0), ("dev", 1)):
        io.write_parquet(toy_sentences(96 if split == "train" else 48, seed), root / f"{split}.parquet", DATASET_SCHEMA)
        models.tokenize_split(root / f"{split}.parquet", f"path:{tiny_model_dir}", 16, root / f"tok-{split}.parquet")
    return root


def test_tokenize_schema_and_identity(tokens):
    df = io.read_parquet(tokens / "tok-dev.parquet")
    assert list(df.columns) == ["idx", "input_ids", "attention_mask", "label", "length"]
    assert all(len(i) == n == sum(m) for i, m, n in zip(df.input_ids, df.attention_mask, df.length))
    assert (df.length <= 16).all()
    ident = io.read_metadata(tokens / "tok-dev.parquet")["tokenizer"]
    assert ident["class"].startswith("Bert") and len(ident["vocab_sha256"]) == 64


def test_resolve_source_errors():
    with pytest.raises(ValueError, match="unknown model source"):
        models.resolve_source("s3:bucket")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        models.resolve_source("path:/definitely/not/here")
    assert models.resolve_source("hub:bert-base-uncased") == "bert-base-uncased"


def test_packaged_minilm_resolves_offline():
    from pathlib import Path

    path = Path(models.resolve_source("packaged:all-MiniLM-L6-v2"))
    assert (path / "model.safetensors").exists() and (path / "config.json").exists()


def _train_and_eval(tokens, tiny_model_dir, root, seed=7):
    info = training.finetune_baseline(
        tokens / "tok-train.parquet",
        f"path:{tiny_model_dir}",
        root / "model",
        PARAMS,
        seed,
        threads=1,
        model_name="tiny",
    )
    meta = evaluate.evaluate(
        root / "model",
        tokens / "tok-dev.parquet",
        "fp32",
        "cpu",
        root / "eval.parquet",
        batch_size=16,
        seed=seed,
        threads=1,
        model_name="tiny",
    )
    return info, meta, io.read_parquet(root / "eval.parquet")


def test_finetune_learns_and_is_deterministic(tokens, tiny_model_dir, tmp_path):
    info, meta, preds = _train_and_eval(tokens, tiny_model_dir, tmp_path / "a")
    _, meta2, preds2 = _train_and_eval(tokens, tiny_model_dir, tmp_path / "b")
    assert info["steps"] == 8 * 12 and info["train_examples"] == 96
    assert meta["status"] == "ok" and meta["accuracy"] > 0.75  # the toy task is learnable
    assert preds.equals(preds2)  # same seed -> same predictions on CPU
    for name in ("model.safetensors", "config.json", "tokenizer.json", "greenbench.json", "training_log.parquet"):
        assert (tmp_path / "a" / "model" / name).exists()
    log = io.read_parquet(tmp_path / "a" / "model" / "training_log.parquet")
    assert log.step.tolist() == list(range(96))
    assert list(preds.columns) == ["idx", "label", "prediction", "confidence", "length", "route"]
    assert (preds.route == -1).all()  # no router in fp32
    assert preds.idx.tolist() == sorted(preds.idx) and ((preds.confidence >= 0.5) & (preds.confidence <= 1)).all()
    assert meta["accuracy"] == pytest.approx((preds.prediction == preds.label).mean())


def test_unavailable_device_is_recorded_not_dropped(tokens, tiny_model_dir, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("host has CUDA")
    out = tmp_path / "eval.parquet"
    meta = evaluate.evaluate(tiny_model_dir, tokens / "tok-dev.parquet", "fp32", "cuda", out, model_name="tiny")
    assert meta["status"] == "not_applicable" and "CUDA" in meta["reason"]
    assert len(io.read_parquet(out)) == 0
    summary = evaluate.summarize([out], tmp_path / "summary.parquet")
    assert summary.status.tolist() == ["not_applicable"] and summary.accuracy.isna().all()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=300), st.integers(1, 17), st.integers(0, 2**16))
def test_bucketed_order_is_a_permutation(lengths, batch_size, seed):
    order = training.bucketed_order(np.asarray(lengths), batch_size, np.random.default_rng(seed))
    assert sorted(order.tolist()) == list(range(len(lengths)))


def test_pad_right_pads_and_masks():
    ids, mask = pad([np.array([5, 6, 7]), np.array([8])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad([np.array([5, 6, 7])], pad_id=0, length=2)
    assert ids.tolist() == [[5, 6]] and mask.tolist() == [[1, 1]]


def test_loading_a_model_leaves_torchao_unimported(tiny_model_dir):
    """transformers' own torchao quantizer is not imported (greenbench calls torchao itself, where a variant
    needs it); a fresh process, so no earlier test has imported either."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from greenbench.data.models import load_classifier\n"
        f"load_classifier({str(tiny_model_dir)!r})\n"
        "assert 'transformers.quantizers.auto' in sys.modules\n"
        "print('torchao' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
