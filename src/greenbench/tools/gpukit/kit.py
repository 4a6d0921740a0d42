"""The GPU kit itself: what goes into it (model, tokens, wheels), the size limit it must keep with the
checkout, and the node's environment."""

from __future__ import annotations

from greenbench.core.names import REFERENCE_VARIANT
import copy
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any


from greenbench.data import models
from greenbench.core import io, provenance
from greenbench.core.log import get_logger

log = get_logger(__name__)


KIT_VARIANTS = ("fp32", "tf32", "fp16", "bf16", "autocast_fp16", "int8_weight_only", "int4_weight_only", "adaptive")
# the runtime axis on the GPU (its own piece: compiling takes minutes, and each trial runs in its own process)
RUNTIME_CELLS = (
    "fp32@torch_compile",
    "fp16@torch_compile",
    "fp32@torch_compile_cudagraphs",
    "fp16@torch_compile_cudagraphs",
    "fp32@onnxruntime",
    "fp16@onnxruntime",
)
# What one copy into an allocation may carry: the lent machines take 64 MiB, the checkout (tracked and
# untracked files git does not ignore) plus the kit; 4 MiB of it are kept as a margin.
KIT_MAX_MB = 60.0
# The kit ships only the rows of the word-embedding matrix its tokens look up (``EMBEDDING_ROWS``): SST-2
# uses ~12,000 of MiniLM's 30,522 word pieces, and the matrix is half the model. The node rebuilds the
# full matrix with zeros in the rows no shipped token reaches, so every prediction on the kit's tokens
# is the one the whole matrix gives (make_kit checks this on dev before it writes anything).
EMBEDDING_ROWS = "embedding_rows.safetensors"
WHEEL_ALLOWANCE_MB = 4.0  # the kit's wheels together (torchao 0.18's is 3.2 MiB); more is refused
COMMAND_LIMIT_S = 600.0  # one command on a lent node
QUICK_LIMIT_S = 300.0  # the quick check's own estimate must stay within this (room for a second try)
# The node has no torchao; the kit's wheel is installed there, and its native libraries (mxfp8, CUTLASS
# kernels) are never needed by the kit's paths (int8/int4 weight-only run torch's own kernels).
NODE_ENV = {"TORCHAO_FORCE_SKIP_LOADING_SO_FILES": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# Acceptance criteria (issue 14), checked in the summary.
MAX_DISAGREEMENT = 0.03  # median |counter - integrated| / counter
MAX_CV_BATCH8 = 0.02  # CV of net J/inference across trials, batch >= 8
MAX_OVERHEAD = 0.01  # sampler on vs off, energy (at each overhead cell)
MAX_HALF_DELTA_PTS = 0.3  # bf16/fp16 accuracy vs fp32, points
MIN_GRAPH_SPEEDUP = 5.0  # CUDA-graph replay vs eager latency at batch 1


def node_environment() -> None:
    """Set the node's environment (``NODE_ENV``) where the caller has not: before torchao is imported."""
    import os

    for key, value in NODE_ENV.items():
        os.environ.setdefault(key, value)


def safe_name(name: str) -> str:
    """A file name from a cell name (``fp32@torch_compile`` -> ``fp32-torch_compile``): letters, digits,
    ``._-`` only, so every file comes back from a node's output folder."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name)


# --------------------------------------------------------------------------- sizes
def tree_bytes(root: str | Path = ".") -> int:
    """What a copy of the checkout carries: tracked files plus untracked files git does not ignore
    (where ``root`` is no git checkout: every file under it outside ``.git``)."""
    import subprocess

    root = Path(root)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        files = [root / name.decode() for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in root.rglob("*") if ".git" not in p.relative_to(root).parts]
    return sum(p.stat().st_size for p in files if p.is_file() and not p.is_symlink())


def estimate_kit_bytes(
    model_dir: str | Path,
    train_tokens: str | Path,
    dev_tokens: str | Path,
    *,
    dtype_bytes: int = 2,
    wheel_bytes: int | None = None,
) -> int:
    """The kit's size, computed without writing it: the classifier's parameters at ``dtype_bytes``
    each (its architecture from ``model_dir``'s config, built on the meta device) less the word-embedding
    rows no token of the two tables uses, the tokenizer and config files, both token tables, and the wheels
    (default: their whole allowance)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(str(model_dir), num_labels=2)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    tensors = list(model.state_dict().values())
    params = sum(t.numel() for t in tensors)
    header = 100 * len(tensors) + 1024  # safetensors' JSON header: a name, dtype, shape and offsets per tensor
    vocab, width = model.get_input_embeddings().weight.shape
    kept = len(used_token_ids([train_tokens, dev_tokens], _special_ids(model_dir)))
    params -= (vocab - kept) * width
    header += 8 * kept + 2 * 1024  # the kept rows' ids (int64) and the second file's header
    side = sum(
        (model_dir / n).stat().st_size
        for n in ("config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
        if (model_dir / n).is_file()
    )
    wheels = int(WHEEL_ALLOWANCE_MB * 2**20) if wheel_bytes is None else int(wheel_bytes)
    return (
        params * dtype_bytes
        + header
        + side
        + Path(train_tokens).stat().st_size
        + Path(dev_tokens).stat().st_size
        + wheels
    )


def _special_ids(model_dir: str | Path) -> list[int]:
    return [int(i) for i in models.load_tokenizer(str(model_dir)).all_special_ids]


def used_token_ids(token_tables, always=()) -> list[int]:
    """The sorted token ids the ``input_ids`` of these token tables use, and the ``always`` ids (the
    tokenizer's special tokens: padding, [CLS], [SEP], [UNK] stay whatever the tables hold)."""
    import numpy as np
    import pyarrow.parquet as pq

    used = {int(i) for i in always}
    for table in token_tables:
        ids = pq.read_table(table, columns=["input_ids"]).column("input_ids").combine_chunks()
        used.update(np.unique(ids.values.to_numpy(zero_copy_only=False)).tolist())
    return sorted(used)


def _embedding_key(model) -> str:
    weight = model.get_input_embeddings().weight
    keys = [k for k, v in model.state_dict(keep_vars=True).items() if v is weight]
    if len(keys) != 1:
        raise ValueError(f"the word embedding is {len(keys)} state-dict entries ({keys}); the kit expects one")
    return keys[0]


def _save_trimmed(model, tokenizer, out: Path, keep: list[int]) -> None:
    """``model`` without its word-embedding matrix (``model.safetensors``), plus the ``keep`` rows of it and
    their ids (``EMBEDDING_ROWS``), and the tokenizer."""
    import torch
    from safetensors.torch import save_file

    key = _embedding_key(model)
    state = {k: v for k, v in model.state_dict().items() if k != key}
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(out)
    ids = torch.tensor(keep, dtype=torch.int64)
    rows = model.get_input_embeddings().weight.detach()[ids].contiguous()
    save_file({"ids": ids, "rows": rows}, str(out / EMBEDDING_ROWS), metadata={"key": key})


def load_kit_model(model_dir: str | Path):
    """The kit's classifier as saved (half precision): the full word-embedding matrix rebuilt from its
    kept rows, zeros elsewhere. A model folder without ``EMBEDDING_ROWS`` (an older kit) loads as is."""
    import torch
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    rows_file = model_dir / EMBEDDING_ROWS
    if not rows_file.exists():
        return models.load_classifier(str(model_dir))
    with safe_open(str(rows_file), "pt") as f:
        key = f.metadata()["key"]
        ids, rows = f.get_tensor("ids"), f.get_tensor("rows")
    from safetensors.torch import load_file

    state = load_file(str(model_dir / "model.safetensors"))
    config = AutoConfig.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_config(config).to(rows.dtype)
    emb = model.get_input_embeddings().weight
    full = torch.zeros(emb.shape, dtype=rows.dtype)
    full[ids] = rows
    state[key] = full
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{model_dir}: the kit's weights do not fit its config (missing {missing}, unexpected {unexpected})"
        )
    return model.eval()


def _mib(n: int | float) -> float:
    return round(n / 2**20, 2)


# --------------------------------------------------------------------------- the kit
def make_kit(
    model_dir: str | Path,
    train_tokens: str | Path,
    dev_tokens: str | Path,
    out: str | Path,
    *,
    model_name: str,
    max_length: int,
    wheels: list[str | Path] = (),
    dtype: str = "float16",
    batch_size: int = 64,
    max_mb: float = KIT_MAX_MB,
    tree: str | Path | None = ".",
) -> dict[str, Any]:
    """Write the kit into ``out`` atomically and return its manifest.

    The manifest records the accuracy of the fp32 original and of its ``dtype``-rounded copy
    (upcast back to fp32) on dev, on this machine's CPU, and how many predictions differ: the
    node's "fp32" is the rounded copy, and the reader must know by how much that matters.
    Refused (nothing written) when the checkout ``tree`` plus the kit would exceed ``max_mb``
    MiB, or the wheels their allowance; the message says by how much."""
    import torch

    from greenbench.cells import variants
    from greenbench.cells.inference import predict

    wheel_bytes = sum(Path(w).stat().st_size for w in wheels)
    if wheel_bytes > WHEEL_ALLOWANCE_MB * 2**20:
        raise ValueError(
            f"the kit's wheels are {_mib(wheel_bytes)} MiB, over their {WHEEL_ALLOWANCE_MB} MiB "
            f"allowance by {_mib(wheel_bytes - WHEEL_ALLOWANCE_MB * 2**20)} MiB"
        )
    tree_size = tree_bytes(tree) if tree is not None else 0
    out_path = Path(out).resolve()
    if tree is not None and out_path.is_relative_to(Path(tree).resolve()) and out_path.exists():
        tree_size -= tree_bytes(out_path)  # an older kit inside the checkout is replaced, not added
    dev = io.read_parquet(dev_tokens)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    original = models.load_classifier(str(model_dir)).float()
    rounded = models.load_classifier(str(model_dir)).to(getattr(torch, dtype))
    fp32 = variants.get(REFERENCE_VARIANT)
    preds_orig = predict(fp32.prepare(original, "cpu", None, {}), dev, batch_size, pad_id)
    # the node's "fp32": the rounded weights upcast (a copy: `rounded` itself is saved in half precision)
    preds_round = predict(fp32.prepare(copy.deepcopy(rounded).float(), "cpu", None, {}), dev, batch_size, pad_id)
    manifest = {
        "model": model_name,
        "max_length": int(max_length),
        "dtype": dtype,
        "source": f"fine-tuned baseline shipped as {dtype} safetensors, upcast to fp32 on the node",
        "baseline_dir": str(model_dir),
        "git_commit": provenance.git_commit(),
        "created": date.today().isoformat(),
        "dev_examples": len(dev),
        "cpu_accuracy_fp32_original": float((preds_orig.prediction == preds_orig.label).mean()),
        f"cpu_accuracy_{dtype}_rounded": float((preds_round.prediction == preds_round.label).mean()),
        "cpu_predictions_changed_by_rounding": int((preds_orig.prediction != preds_round.prediction).sum()),
    }
    with io.atomic_directory(out) as tmp:
        keep = used_token_ids([train_tokens, dev_tokens], tokenizer.all_special_ids)
        _save_trimmed(rounded, tokenizer, tmp / "model", keep)
        # the node's "fp32" as the node builds it: the kept rows, zeros elsewhere, upcast
        preds_node = predict(
            fp32.prepare(load_kit_model(tmp / "model").float(), "cpu", None, {}), dev, batch_size, pad_id
        )
        if not preds_node.prediction.equals(preds_round.prediction):
            raise ValueError("the kit's trimmed word embedding changed dev predictions: the tokens use rows it dropped")
        manifest["embedding_rows"] = {"kept": len(keep), "of": int(rounded.get_input_embeddings().weight.shape[0])}
        (tmp / "tokens").mkdir()
        shutil.copyfile(train_tokens, tmp / "tokens" / "train.parquet")
        shutil.copyfile(dev_tokens, tmp / "tokens" / "dev.parquet")
        if wheels:
            (tmp / "wheels").mkdir()
            for wheel in wheels:
                shutil.copyfile(wheel, tmp / "wheels" / Path(wheel).name)
        manifest["wheels"] = sorted(Path(w).name for w in wheels)
        kit_size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) + 4096  # + kit.json
        manifest.update(
            size_mb=_mib(kit_size), tree_mb=_mib(tree_size), total_mb=_mib(kit_size + tree_size), max_total_mb=max_mb
        )
        if kit_size + tree_size > max_mb * 2**20:
            raise ValueError(
                f"the checkout ({manifest['tree_mb']} MiB) plus the GPU kit ({manifest['size_mb']} MiB) "
                f"would be {manifest['total_mb']} MiB, {_mib(kit_size + tree_size - max_mb * 2**20)} MiB "
                f"over the {max_mb} MiB one copy into an allocation may carry: remove bulk from the "
                "checkout, or ship fewer wheels"
            )
        io.write_json(manifest, tmp / "kit.json")
    log.info(
        "GPU kit -> %s (%.1f MiB; with the checkout %.1f of %.0f MiB): %s",
        out,
        manifest["size_mb"],
        manifest["total_mb"],
        max_mb,
        manifest["source"],
    )
    return manifest


def read_kit(kit: str | Path) -> dict[str, Any]:
    kit = Path(kit)
    manifest_path = kit / "kit.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: make the kit first (`make gpu-kit` where the study ran)")
    return json.loads(manifest_path.read_text())


def upcast_model(kit: str | Path, out: str | Path) -> Path:
    """The kit's half-precision baseline saved as an fp32 checkpoint (every variant starts from fp32)."""
    tokenizer = models.load_tokenizer(str(Path(kit) / "model"))
    model = load_kit_model(Path(kit) / "model").float()
    models.save_model(model, tokenizer, out, {"source": f"upcast from {kit}/model"})
    return Path(out)


# --------------------------------------------------------------------------- what each piece measures
