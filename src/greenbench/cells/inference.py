"""Batched inference over a token table: what evaluation and the adaptive router's calibration share.

Kept apart from ``evaluate`` (which imports every variant) so that a variant can call it without
an import cycle."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenbench.data import models
from greenbench.data.batching import iter_batches


def predict(prepared: Any, tokens: pd.DataFrame, batch_size: int, pad_id: int) -> pd.DataFrame:
    """Predictions in ``tokens`` order; batches are formed by length to limit padding."""
    import torch
    from tqdm.auto import tqdm

    order = np.argsort(tokens["length"].to_numpy(), kind="stable")
    probs = np.zeros((len(tokens), models.NUM_LABELS), dtype=np.float32)
    routes = np.full(len(tokens), -1, dtype=np.int8)
    with torch.inference_mode():
        for batch in tqdm(
            list(iter_batches(tokens, batch_size, pad_id, order=order)), desc="evaluate", unit="batch", mininterval=5
        ):
            logits = prepared.forward(batch.input_ids.to(prepared.device), batch.attention_mask.to(prepared.device))
            probs[batch.rows] = torch.softmax(logits, dim=-1).cpu().numpy()
            if prepared.last_routes is not None:
                routes[batch.rows] = prepared.last_routes.cpu().numpy()
    return pd.DataFrame(
        {
            "idx": tokens["idx"].to_numpy(dtype=np.int32),
            "label": tokens["label"].to_numpy(dtype=np.int8),
            "prediction": probs.argmax(axis=1).astype(np.int8),
            "confidence": probs.max(axis=1).astype(np.float32),
            "length": tokens["length"].to_numpy(dtype=np.int32),
            "route": routes,
        }
    )
