"""Seeded, CPU-deterministic fine-tuning of a sequence classifier on pre-tokenized SST-2."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.data import sst2 as data, models
from greenbench.core import io, provenance
from greenbench.data.batching import iter_batches
from greenbench.core.log import get_logger

log = get_logger(__name__)

TRAINING_LOG_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64()),
        pa.field("epoch", pa.int64()),
        pa.field("loss", pa.float64()),
        pa.field("learning_rate", pa.float64()),
    ]
)

BUCKET_BATCHES = 50  # batches per length bucket: similar lengths pad less, order stays random


def bucketed_order(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation in which each batch holds examples of similar length.

    Shuffle, cut into chunks of ``BUCKET_BATCHES`` batches, sort each chunk by length,
    then shuffle the batches. Every index appears exactly once.
    """
    perm = rng.permutation(len(lengths))
    chunk = batch_size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return np.concatenate(batches) if batches else perm


def _optimizer(model, lr: float, weight_decay: float):
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel per parameter tensor instead of a pass per Adam operation. On a 2-core CPU, it cuts
    # MiniLM's optimizer step from about 86 to 11 ms (a step, forward and backward included, takes about
    # 0.5 s). It is the same update, rounded differently (experiments/2026-12-07-laptop-budget).
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in decay + no_decay)
    return torch.optim.AdamW(groups, lr=lr, fused=fused or None)


def _linear_schedule(optimizer, warmup: int, total: int):
    import torch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def distillation_loss(student_logits, hard_loss, teacher_logits, distill: Mapping[str, Any]):
    """Hinton-style knowledge distillation mixed with the hard-label loss; ``teacher_logits``: the teacher's
    logits for the batch's rows (computed once per recovery draw, ``greenbench.data.recovery.teacher_logits``)."""
    import torch.nn.functional as F

    alpha = float(distill.get("alpha", 0.5))
    temperature = float(distill.get("temperature", 2.0))
    teacher_logits = teacher_logits.to(student_logits.device).float()
    soft = (
        F.kl_div(
            F.log_softmax(student_logits.float() / temperature, -1),
            F.log_softmax(teacher_logits / temperature, -1),
            reduction="batchmean",
            log_target=True,
        )
        * temperature**2
    )
    return (1 - alpha) * hard_loss + alpha * soft


def total_steps(examples: int, params: Mapping[str, Any]) -> int:
    """Optimizer steps of a training run: ``epochs`` passes over ``examples`` in batches of ``batch_size``,
    capped by ``max_steps`` when it is set."""
    total = math.ceil(examples / int(params["batch_size"])) * int(params["epochs"])
    return min(total, int(params["max_steps"])) if params.get("max_steps") else total


def train_classifier(
    model,
    tokens: pd.DataFrame,
    params: Mapping[str, Any],
    seed: int,
    pad_id: int,
    desc: str = "fine-tune",
    teacher=None,
    distill: Mapping[str, Any] | None = None,
    after_step: Callable[[], None] | None = None,
    on_step: Callable[[int], bool] | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place; return the per-step training log.

    With ``teacher`` (the teacher's logits, one row per row of ``tokens``: an array or tensor), the loss is
    ``(1 - alpha) * CE + alpha * T^2 * KL(teacher || student)`` at temperature ``T``
    (``distill = {"alpha": ..., "temperature": ...}``). ``after_step`` runs after
    every optimizer step (e.g. to re-apply pruning masks); ``on_step(steps_done)`` after that, and a True
    answer stops training there (early stopping).
    """
    import torch
    from tqdm.auto import tqdm

    batch_size = int(params["batch_size"])
    epochs = int(params["epochs"])
    total = total_steps(len(tokens), params)
    optimizer = _optimizer(model, float(params["learning_rate"]), float(params["weight_decay"]))
    scheduler = _linear_schedule(optimizer, int(total * float(params["warmup_ratio"])), total)
    rng = np.random.default_rng(seed)
    lengths = tokens["length"].to_numpy()
    records = []
    device = next(model.parameters()).device
    if teacher is not None:
        teacher = torch.as_tensor(np.asarray(teacher, dtype=np.float32))
        if teacher.shape[0] != len(tokens):
            raise ValueError(f"{desc}: {teacher.shape[0]} teacher rows for {len(tokens)} training examples")
    model.train()
    step = 0
    stop = False
    with tqdm(total=total, desc=desc, unit="step", mininterval=5) as bar:
        for epoch in range(epochs):
            if stop:
                break
            order = bucketed_order(lengths, batch_size, rng)
            for batch in iter_batches(tokens, batch_size, pad_id, order=order):
                if step >= total:
                    break
                if device.type != "cpu":
                    batch.input_ids, batch.attention_mask, batch.labels = (
                        t.to(device) for t in (batch.input_ids, batch.attention_mask, batch.labels)
                    )
                out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, labels=batch.labels)
                loss = out.loss
                if teacher is not None:
                    rows = torch.as_tensor(batch.rows, dtype=torch.long)
                    loss = distillation_loss(out.logits, loss, teacher[rows], distill or {})
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"{desc}: loss became {loss.item()} at step {step}; lower finetune.learning_rate"
                    )
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if after_step is not None:
                    after_step()
                records.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "loss": float(loss.item()),
                        "learning_rate": float(scheduler.get_last_lr()[0]),
                    }
                )
                step += 1
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{np.mean([r['loss'] for r in records[-50:]]):.3f}")
                if on_step is not None and on_step(step):
                    stop = True
                    break
    model.eval()
    return pd.DataFrame.from_records(records, columns=["step", "epoch", "loss", "learning_rate"])


def finetune_baseline(
    train_tokens: str | Path,
    source: str,
    out_dir: str | Path,
    params: Mapping[str, Any],
    seed: int,
    finetune: bool = True,
    threads: int | None = None,
    model_name: str = "model",
) -> dict[str, Any]:
    """Fine-tune (or, with ``finetune=False``, just package) the baseline into ``out_dir``."""
    models.prepare_runtime(seed, threads)
    name_or_path = models.resolve_source(source)
    tokenizer = models.load_tokenizer(name_or_path)
    model = models.load_classifier(name_or_path)
    started = time.perf_counter()
    info: dict[str, Any] = {
        "model": model_name,
        "source": source,
        "finetuned": finetune,
        "seed": seed,
        "params": dict(params),
        "tokenizer": models.tokenizer_identity(tokenizer),
    }
    if finetune:
        tokens = data.subset(io.read_parquet(train_tokens), int(params["train_subset"]), seed)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        history = train_classifier(model, tokens, params, seed, pad_id, desc=f"fine-tune {model_name}")
        info.update(
            train_examples=len(tokens),
            steps=len(history),
            final_loss=float(history["loss"].tail(50).mean()) if len(history) else None,
        )
    else:
        history = pd.DataFrame(columns=["step", "epoch", "loss", "learning_rate"])
        info.update(train_examples=0, steps=0, final_loss=None)
    info["train_seconds"] = round(time.perf_counter() - started, 3)
    info["parameters"] = int(sum(p.numel() for p in model.parameters()))
    info["provenance"] = provenance.collect(params)
    history = history.astype({"step": "int64", "epoch": "int64", "loss": "float64", "learning_rate": "float64"})
    models.save_model(
        model,
        tokenizer,
        out_dir,
        info,
        extra=lambda tmp: io.write_parquet(
            history, tmp / "training_log.parquet", TRAINING_LOG_SCHEMA, {"model": model_name}
        ),
    )
    log.info(
        "%s: %s in %.1f s (%s steps) -> %s",
        model_name,
        "fine-tuned" if finetune else "packaged",
        info["train_seconds"],
        info["steps"],
        out_dir,
    )
    return info
