"""One-shot magnitude pruning to 50% (no recovery): one global threshold, one per matrix, one per row.
From the repository root, after the default study's baseline and dev tokens exist:

    python experiments/2026-12-07-recovery-budget/twin.py

2026-12-07, AMD EPYC AVX2 guest, dev accuracy: global 0.8372, per matrix 0.8498, per row 0.8475 (fp32 0.8784).
"""

from __future__ import annotations

import torch

from greenbench.cells.variants import pruning
from greenbench.core import io
from greenbench.data import models, recovery


def fresh():
    return models.load_classifier("results/models/minilm/baseline").eval()


def main() -> None:
    dev = io.read_parquet("results/tokens/minilm/dev.parquet")
    print("baseline", recovery.score(fresh(), dev, 0))
    for how in ("global", "matrix", "row"):
        model = fresh()
        weights = pruning._encoder_weights(model)
        with torch.no_grad():
            if how == "global":
                masks = pruning.magnitude_masks(weights, 0.5, "global")
            elif how == "matrix":
                masks = [pruning.magnitude_masks([w], 0.5, "global")[0] for w in weights]
            else:
                masks = [w.abs() > w.abs().kthvalue(w.shape[1] // 2, dim=1, keepdim=True).values for w in weights]
            for w, mask in zip(weights, masks):
                w.mul_(mask)
        print(how, recovery.score(model, dev, 0))


if __name__ == "__main__":
    main()
