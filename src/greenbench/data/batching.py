"""Batches of pre-tokenized examples with dynamic or fixed padding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd


@dataclass
class Batch:
    rows: np.ndarray  # positions into the token frame
    input_ids: "torch.Tensor"  # noqa: F821
    attention_mask: "torch.Tensor"  # noqa: F821
    labels: "torch.Tensor"  # noqa: F821


def pad(sequences: Sequence[np.ndarray], pad_id: int, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to ``length`` (default: the longest sequence); return ids and mask."""
    width = length if length is not None else max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for i, seq in enumerate(sequences):
        n = min(len(seq), width)
        ids[i, :n] = seq[:n]
        mask[i, :n] = 1
    return ids, mask


def iter_batches(
    tokens: pd.DataFrame,
    batch_size: int,
    pad_id: int,
    order: np.ndarray | None = None,
    fixed_length: int | None = None,
) -> Iterator[Batch]:
    """Yield tensors for consecutive slices of ``order`` (default: file order)."""
    import torch

    order = np.arange(len(tokens)) if order is None else order
    ids_col = tokens["input_ids"].to_numpy()
    labels = tokens["label"].to_numpy()
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        ids, mask = pad([ids_col[r] for r in rows], pad_id, fixed_length)
        yield Batch(
            rows, torch.from_numpy(ids), torch.from_numpy(mask), torch.from_numpy(labels[rows].astype(np.int64))
        )
