"""A cell's inputs: pre-tokenized, device-resident batches, length-bucketed in an order whose every
prefix spreads over dev's lengths (dynamic padding) or padded to the maximum length (fixed)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def spread_order(n: int, shift: float = 0.0) -> list[int]:
    """A permutation of ``range(n)`` whose every prefix spreads evenly over it: position k takes
    ``floor(((v(k) + shift) mod 1) * n)``, v the base-2 van der Corput sequence, skipping positions
    already taken (a randomly shifted low-discrepancy order: with ``shift`` uniform in [0, 1) each
    position is equally likely at every step, and a prefix of k covers k near-equal strata)."""
    if n <= 0:
        return []
    bits = max(1, (n - 1).bit_length())
    order, taken = [], set()
    for k in range(1 << bits):
        v = int(f"{k:0{bits}b}"[::-1], 2) / (1 << bits)
        pos = int(((v + shift) % 1.0) * n)
        if pos not in taken:
            taken.add(pos)
            order.append(pos)
    order += [p for p in range(n) if p not in taken]  # none in practice: 2**bits >= n strata each hit
    return order


def make_batches(
    tokens: pd.DataFrame, batch_size: int, padding: str, max_length: int, pad_id: int, device: str, seed: int = 0
):
    """Device-resident (ids, mask) batches. dynamic: length-bucketed (padded per batch), in the
    order ``spread_order`` gives the length-sorted buckets (its shift seeded), so that any prefix of
    the cycle a window runs spreads over dev's lengths like the whole (in sorted order a short
    window would see only the shortest sentences; a random order would see a random sample, whose
    mix of lengths changes each ratio to fp32 from one sample to the next); fixed: every sequence
    padded to ``max_length``, full batches only. The same ``seed`` gives the same batches: a study
    gives every trial the same, so trials differ by the host's noise alone."""
    import torch

    from greenbench.data.batching import iter_batches

    if padding == "dynamic":
        order = np.argsort(tokens["length"].to_numpy(), kind="stable")
        batches = list(iter_batches(tokens, batch_size, pad_id, order=order))
        shift = float(np.random.default_rng([seed, batch_size]).random())
        batches = [batches[i] for i in spread_order(len(batches), shift)]
    elif padding == "fixed":
        usable = (len(tokens) // batch_size) * batch_size
        batches = list(iter_batches(tokens.iloc[:usable], batch_size, pad_id, fixed_length=max_length))
    else:
        raise ValueError(f"unknown padding policy '{padding}' (expected dynamic or fixed)")
    moved = [(b.input_ids.to(device), b.attention_mask.to(device)) for b in batches]
    if device == "cuda":
        torch.cuda.synchronize()
    return moved
