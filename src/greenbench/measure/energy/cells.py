"""What a trial measures: a cell (variant, batch size, padding, mode, and whether the power sampler
runs), the grid of ``energy`` settings that gives a trial's cells, and their seeded random order."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Cell:
    variant: str
    batch_size: int
    padding: str  # dynamic | fixed
    mode: str  # eager | cuda_graph
    sampler: bool = True


def paddings_for(energy: Mapping[str, Any], device: str) -> list[str]:
    """``energy.paddings`` for one device: the list itself, or the device's entry of a per-device
    mapping (``{cpu: [dynamic], cuda: [dynamic, fixed]}``; a device without an entry measures none)."""
    paddings = energy["paddings"]
    return list(paddings.get(device, [])) if isinstance(paddings, Mapping) else list(paddings)


def plan_cells(variant_names, batch_sizes, paddings, modes, overhead: bool, seed: int, trial: int) -> list[Cell]:
    """Every cell of the trial in a seeded random order (the order differs between trials)."""
    cells = [Cell(v, int(b), p, m) for v, b, p, m in itertools.product(variant_names, batch_sizes, paddings, modes)]
    if overhead and cells:
        ref = cells[0]
        cells.append(Cell(ref.variant, ref.batch_size, ref.padding, ref.mode, sampler=False))
    return shuffle_cells(cells, seed, trial)


def shuffle_cells(cells: list[Cell], seed: int, trial: int) -> list[Cell]:
    """The cells in the trial's seeded random order (interleaving: drift cancels, pairs stay close)."""
    order = np.random.default_rng([seed, trial]).permutation(len(cells))
    return [cells[i] for i in order]
