"""Recovery that never ends below where it started.

A rewrite (pruning, sparse attention, spiking) is followed by a short recovery fine-tune. A short fine-tune
can make a rewritten model *worse* than the rewrite alone (its un-tuned twin); that is a defect, not a
trade-off. So a held-out slice of train (never dev, never the fine-tune's or the recovery's own draw,
sentence-like inputs only: SST-2 train mixes phrases with sentences while dev holds sentences) scores the
model before recovery (step 0: the un-tuned twin), at ``checks`` evenly spaced steps during it (the last at
its end), and the best-scoring state is the one kept. Recovery stops early once ``patience`` checks in a
row fail to beat the best (0: never early).

Score = held-out accuracy, ties broken by the lower mean negative log-likelihood; a later state replaces the
best only when strictly better, so "kept" is the earliest best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from greenbench.data import sst2 as data
from greenbench.data.batching import iter_batches

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


def score(model, tokens: pd.DataFrame, pad_id: int, batch_size: int = 64) -> tuple[float, float]:
    """(accuracy, mean negative log-likelihood) of ``model`` on ``tokens``; the model's train/eval mode is
    restored afterwards."""
    import torch
    import torch.nn.functional as F

    if len(tokens) == 0:
        raise ValueError("score: no held-out examples")
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    correct, nll = 0, 0.0
    order = np.argsort(tokens["length"].to_numpy(), kind="stable")
    try:
        with torch.no_grad():
            for batch in iter_batches(tokens, batch_size, pad_id, order=order):
                logits = model(
                    input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device)
                ).logits.float()
                labels = batch.labels.to(device)
                correct += int((logits.argmax(-1) == labels).sum())
                nll += float(F.cross_entropy(logits, labels, reduction="sum"))
    finally:
        model.train(was_training)
    return correct / len(tokens), nll / len(tokens)


@dataclass
class Selection:
    """Keeps the best-scoring state seen so far and says when to stop (``patience`` checks in a row
    without a strictly better score; 0 = never)."""

    patience: int = 0
    best_step: int | None = None
    best: tuple[float, float] | None = None  # (accuracy, nll)
    checks: list[dict[str, Any]] = field(default_factory=list)
    _state: dict | None = None
    _misses: int = 0

    @staticmethod
    def better(a: tuple[float, float], b: tuple[float, float] | None) -> bool:
        """Whether score ``a`` beats ``b``: higher accuracy, or equal accuracy and lower NLL."""
        return b is None or a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])

    def offer(self, step: int, accuracy: float, nll: float, model) -> bool:
        """Record the score at ``step`` (keeping a copy of ``model``'s state when it is the best); True when
        recovery should stop."""
        improved = self.better((accuracy, nll), self.best)
        self.checks.append({"step": int(step), "accuracy": float(accuracy), "nll": float(nll), "best": improved})
        if improved:
            self.best, self.best_step, self._misses = (accuracy, nll), int(step), 0
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
        return {
            "kept_step": self.best_step,
            "kept_accuracy": None if self.best is None else self.best[0],
            "untuned_accuracy": None if untuned is None else untuned["accuracy"],
            "kept_untuned": self.best_step == 0,
            "planned_steps": int(total_steps),
            "trained_steps": int(trained_steps),
            "stopped_early": trained_steps < total_steps,
            "checks": self.checks,
        }


def settings(recovery: Mapping[str, Any]) -> tuple[int, int, int, int]:
    """(holdout, holdout_min_tokens, checks, patience) of a ``variants.recovery`` block."""
    return (
        int(recovery["holdout"]),
        int(recovery["holdout_min_tokens"]),
        int(recovery["checks"]),
        int(recovery["patience"]),
    )
