"""Recovery that never ends below where it started.

A rewrite (pruning, sparse attention, spiking) is followed by a short recovery fine-tune. A short fine-tune
can make a rewritten model *worse* than the rewrite alone (its un-tuned twin); that is a defect, not a
trade-off. So a held-out slice of train (never dev, never the fine-tune's or the recovery's own draw,
sentence-like inputs only: SST-2 train mixes phrases with sentences while dev holds sentences) scores the
model before recovery (step 0: the un-tuned twin), at ``checks`` evenly spaced steps during it (the last at
its end), and the best-scoring state is the one kept. Recovery stops early once ``patience`` checks in a
row fail to beat the best (0: never early). A rewrite whose twin is already closer to the baseline than
``skip_below_kl`` (held-out KL) is kept as it is, without training (``close_enough``).

Score (``criterion``): ``fidelity``, the mean KL divergence of the model's answers from the unmodified
baseline's on the held-out slice (lower is better; held-out accuracy breaks ties), or ``accuracy`` (the NLL
breaks ties). Fidelity is the default: recovery distils the baseline back, and SST-2 train is made of the
phrases of its sentences, so held-out train sentences mostly hold phrases the baseline was fine-tuned on;
there the rewrite alone keeps the baseline's memorised answers, and held-out accuracy ranked it above a
recovery that dev accuracy and the divergence both rank higher (docs/lab-notes.md, 2026-12-07). A later
state replaces the best only when strictly better, so "kept" is the earliest best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from greenbench.data import sst2 as data
from greenbench.data.batching import iter_batches

RECOVERY_SEED_OFFSET = 101  # the recovery draw: data.subset(train, train_subset, seed + 101)
HOLDOUT_SEED_OFFSET = 202  # the recovery draw uses seed + 101, the fine-tune draw the seed itself


def holdout(
    tokens: pd.DataFrame,
    *,
    used: set[int],
    size: int,
    min_tokens: int,
    seed: int,
) -> pd.DataFrame:
    """A seeded draw of ``size`` rows of ``tokens`` whose ``idx`` is not in ``used`` and whose length is at
    least ``min_tokens`` (in idx order; empty when ``size`` is 0 or nothing qualifies)."""
    if size <= 0:
        return tokens.iloc[:0]
    pool = tokens[~tokens["idx"].isin(used) & (tokens["length"] >= min_tokens)].reset_index(drop=True)
    return data.subset(pool, size, seed + HOLDOUT_SEED_OFFSET)


def check_steps(total: int, checks: int) -> list[int]:
    """``checks`` evenly spaced step counts in (0, total], the last one ``total`` (fewer when steps are
    fewer than checks; none when either is 0)."""
    if total <= 0 or checks <= 0:
        return []
    return sorted({max(1, math.ceil(total * (i + 1) / checks)) for i in range(checks)})


def score(model, tokens: pd.DataFrame, pad_id: int, teacher=None, batch_size: int = 64) -> dict[str, float]:
    """``accuracy`` and mean negative log-likelihood (``nll``) of ``model`` on ``tokens`` and, given the
    baseline's logits on them (``teacher``, one row per row of ``tokens``), the mean ``kl`` divergence
    KL(baseline ‖ model) of their answers; the model's train/eval mode is restored afterwards."""
    import torch
    import torch.nn.functional as F

    if len(tokens) == 0:
        raise ValueError("score: no held-out examples")
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    correct, nll, kl = 0, 0.0, 0.0
    order = np.argsort(tokens["length"].to_numpy(), kind="stable")
    reference = None if teacher is None else torch.as_tensor(np.asarray(teacher, dtype=np.float32))
    try:
        with torch.no_grad():
            for batch in iter_batches(tokens, batch_size, pad_id, order=order):
                logits = model(
                    input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
                ).logits.float()
                labels = batch.labels.to(device)
                correct += int((logits.argmax(-1) == labels).sum())
                nll += float(F.cross_entropy(logits, labels, reduction="sum"))
                if reference is not None:
                    target = F.log_softmax(reference[torch.as_tensor(batch.rows)].to(device), -1)
                    kl += float(F.kl_div(F.log_softmax(logits, -1), target, log_target=True, reduction="sum"))
    finally:
        model.train(was_training)
    out = {"accuracy": correct / len(tokens), "nll": nll / len(tokens)}
    if reference is not None:
        out["kl"] = kl / len(tokens)
    return out


CRITERIA = {
    # higher is better, compared in order: the first entry decides, the next breaks ties
    "fidelity": lambda m: (-m["kl"], m["accuracy"]),
    "accuracy": lambda m: (m["accuracy"], -m["nll"]),
}


@dataclass
class Selection:
    """Keeps the best-scoring state seen so far and says when to stop (``patience`` checks in a row
    without a strictly better score; 0 = never). ``criterion``: ``fidelity`` (the lowest KL divergence from
    the unmodified baseline's answers on the held-out slice, accuracy breaking ties) or ``accuracy`` (the
    highest held-out accuracy, the lower NLL breaking ties)."""

    patience: int = 0
    criterion: str = "fidelity"
    best_step: int | None = None
    best: tuple[float, ...] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    _state: dict | None = None
    _misses: int = 0

    def __post_init__(self) -> None:
        if self.criterion not in CRITERIA:
            raise ValueError(f"unknown recovery criterion {self.criterion!r}: one of {sorted(CRITERIA)}")

    @staticmethod
    def better(a: tuple[float, ...], b: tuple[float, ...] | None) -> bool:
        """Whether score ``a`` beats ``b`` (higher first entry; equal: higher next entry...)."""
        return b is None or a > b

    def offer(self, step: int, metrics: Mapping[str, float], model) -> bool:
        """Record the held-out ``metrics`` (``score``) at ``step``, keeping a copy of ``model``'s state when
        it is the best; True when recovery should stop."""
        key = CRITERIA[self.criterion](metrics)
        improved = self.better(key, self.best)
        self.checks.append({"step": int(step), **{k: float(v) for k, v in metrics.items()}, "best": improved})
        if improved:
            self.best, self.best_step, self._misses = key, int(step), 0
            self._state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self._misses += 1
        return self.patience > 0 and self._misses >= self.patience

    def restore(self, model) -> None:
        """Load the best state into ``model`` (nothing to do when none was offered)."""
        if self._state is not None:
            model.load_state_dict(self._state, strict=True)

    def report(self, total_steps: int, trained_steps: int) -> dict[str, Any]:
        untuned = self.checks[0] if self.checks else None
        kept = next((c for c in self.checks if c["step"] == self.best_step), None)
        return {
            "criterion": self.criterion,
            "kept_step": self.best_step,
            "kept_accuracy": None if kept is None else kept["accuracy"],
            "kept_kl": None if kept is None else kept.get("kl"),
            "untuned_accuracy": None if untuned is None else untuned["accuracy"],
            "untuned_kl": None if untuned is None else untuned.get("kl"),
            "kept_untuned": self.best_step == 0,
            "planned_steps": int(total_steps),
            "trained_steps": int(trained_steps),
            "stopped_early": trained_steps < total_steps,
            "checks": self.checks,
        }


def close_enough(untuned: Mapping[str, float], skip_below_kl: float) -> bool:
    """Whether the un-tuned rewrite's held-out ``kl`` (``score``) is already below ``skip_below_kl``: then
    recovery is not run and the rewrite is kept as it is (0: never; no ``kl`` scored: never)."""
    kl = untuned.get("kl")
    return skip_below_kl > 0 and kl is not None and float(kl) < skip_below_kl


def settings(recovery: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(holdout, holdout_min_tokens, checks, patience) of a ``variants.recovery`` block."""
    return (
        int(recovery["holdout"]),
        int(recovery["holdout_min_tokens"]),
        int(recovery["checks"]),
        int(recovery["patience"]),
    )


# -- teacher logits: the baseline's answers on a recovery draw, computed once -------------------------------

TEACHER_BATCH = 64  # inference batch (length-sorted) of the teacher pass
TEACHER_SCHEMA = pa.schema([pa.field("idx", pa.int64()), pa.field("logits", pa.list_(pa.float32()))])


def teacher_logits(model, tokens: pd.DataFrame, pad_id: int, batch_size: int = TEACHER_BATCH) -> np.ndarray:
    """The unmodified ``model``'s float32 logits, one row per row of ``tokens`` (eval mode, no dropout: the
    same answers a teacher forward at every recovery step would give), in ``tokens``' row order."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    out: np.ndarray | None = None
    order = np.argsort(tokens["length"].to_numpy(), kind="stable")
    with torch.no_grad():
        for batch in iter_batches(tokens, batch_size, pad_id, order=order):
            logits = model(
                input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
            ).logits.float()
            if out is None:
                out = np.zeros((len(tokens), logits.shape[-1]), dtype=np.float32)
            out[batch.rows] = logits.cpu().numpy()
    return np.zeros((0, 0), dtype=np.float32) if out is None else out


def teacher_frame(tokens: pd.DataFrame, logits: np.ndarray) -> pd.DataFrame:
    """``idx`` and ``logits`` (a list per row) of a teacher pass, as stored."""
    return pd.DataFrame({"idx": tokens["idx"].to_numpy(dtype=np.int64), "logits": list(logits.astype(np.float32))})


def aligned_teacher(stored: pd.DataFrame, tokens: pd.DataFrame, source: str = "teacher logits") -> np.ndarray:
    """The stored teacher logits in ``tokens``' row order; an error naming ``source`` and the missing
    count when the file lacks some of the recovery draw (a file of another draw or seed)."""
    by_idx = pd.Series(range(len(stored)), index=stored["idx"].to_numpy())
    where = by_idx.reindex(tokens["idx"].to_numpy())
    missing = int(where.isna().sum())
    if missing:
        raise ValueError(
            f"{source}: {missing} of the {len(tokens)} recovery examples have no teacher logits "
            "(written for another recovery draw or seed: rerun rule teacher_logits)"
        )
    table = np.stack(stored["logits"].to_numpy())
    return table[where.to_numpy(dtype=np.int64)].astype(np.float32)


def recovery_draw(train: pd.DataFrame, examples: int, seed: int) -> pd.DataFrame:
    """The train sentences a rewrite recovers on (``variants.recovery.train_subset``; 0 = all)."""
    return data.subset(train, int(examples), seed + RECOVERY_SEED_OFFSET)


def write_teacher_logits(model_dir, train_tokens, out, *, examples: int, seed: int, threads: int | None = None) -> None:
    """Rule ``teacher_logits``: the baseline's logits on the recovery draw of ``examples`` sentences, once for
    every rewrite that recovers on that draw (their builds read it instead of running the teacher per step)."""
    import time

    from greenbench.core import io, provenance
    from greenbench.core.log import get_logger
    from greenbench.data import models

    models.prepare_runtime(seed, threads)
    tokens = recovery_draw(io.read_parquet(train_tokens), examples, seed)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    started = time.perf_counter()
    logits = teacher_logits(models.load_classifier(str(model_dir)), tokens, pad_id)
    io.write_parquet(
        teacher_frame(tokens, logits),
        out,
        TEACHER_SCHEMA,
        {"examples": int(examples), "seed": int(seed), "provenance": provenance.collect()},
    )
    get_logger(__name__).info(
        "teacher logits for %d recovery examples in %.1f s -> %s", len(tokens), time.perf_counter() - started, out
    )
