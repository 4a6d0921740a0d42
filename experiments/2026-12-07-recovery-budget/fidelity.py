"""Twin vs fully recovered rewrite: accuracy, agreement with and KL divergence from the baseline on three
slices: held-out train sentences sharing no >= 4-token phrase with the fine-tune/recovery draws ("clean"),
ordinary held-out train sentences ("leaky"), and dev. From the repository root, after
``snakemake results/models/minilm/baseline results/tokens/minilm/dev.parquet``:

    python experiments/2026-12-07-recovery-budget/fidelity.py prune_heads50

Output: fidelity-results.txt (2026-12-07, AMD EPYC AVX2 guest; magnitude50 then pruned each matrix to 50%,
a pattern tried and not kept: README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from greenbench.cells import variants
from greenbench.config.load import deep_merge, load_config
from greenbench.core import io
from greenbench.data import models, recovery
from greenbench.data import sst2 as data
from greenbench.pipeline.wiring import build_finetune, variant_params


def clean_holdout(train, used, size, min_tokens, seed, span=4):
    """Held-out rows sharing no phrase of >= ``span`` tokens with the used rows (either way round)."""
    words = lambda ids: [str(int(t)) for t in list(ids)[1:-1]]  # noqa: E731
    used_rows = [words(x) for x in train[train["idx"].isin(used)]["input_ids"]]
    joined = "|" + "|".join(" " + " ".join(w) + " " for w in used_rows) + "|"
    phrases = {" ".join(w) for w in used_rows if len(w) >= span}
    pool = train[~train["idx"].isin(used) & (train["length"] >= min_tokens)].reset_index(drop=True)
    kept = []
    for row in np.random.default_rng(seed + recovery.HOLDOUT_SEED_OFFSET).permutation(len(pool)):
        w = words(pool["input_ids"].iloc[row])
        inside = (" " + " ".join(w) + " ") in joined
        if not inside and not any(
            " ".join(w[i:j]) in phrases for i in range(len(w)) for j in range(i + span, len(w) + 1)
        ):
            kept.append(int(row))
            if len(kept) == size:
                break
    return pool.iloc[sorted(kept)].reset_index(drop=True)


def main(name: str) -> None:
    cfg = deep_merge(load_config(["config/config.yaml"]), {"variants": {"recovery": {"holdout": 0}}})
    train = io.read_parquet("results/tokens/minilm/train.parquet")
    dev = io.read_parquet("results/tokens/minilm/dev.parquet")
    base, seed, out = "results/models/minilm/baseline", 42, Path(f"/tmp/fid-{name}")
    params, recipe = variant_params(cfg, name), variants.get(name)
    if not out.exists():  # fully recovered: no held-out selection
        recipe.build(base, "results/tokens/minilm/train.parquet", out, "cpu", params, seed, build_finetune(cfg, name))
    used = set(data.subset(train, 20000, seed)["idx"]) | set(data.subset(train, 3000, seed + 101)["idx"])
    slices = {
        "clean": clean_holdout(train, used, 1500, 10, seed),
        "leaky": recovery.holdout(train, used=used, size=1500, min_tokens=10, seed=seed),
        "dev": dev,
    }
    teacher = models.load_classifier(base).eval()
    recovered = recipe.prepare(models.load_classifier(base), "cpu", out, params).model
    twin = models.load_classifier(base)
    trained = next(c.cell_contents for c in recipe.prepare.__closure__ if hasattr(c.cell_contents, "apply"))
    trained.apply(twin, json.loads((out / "plan.json").read_text()))
    twin.eval()
    for key, tokens in slices.items():
        reference = recovery.teacher_logits(teacher, tokens, 0)
        for label, model in (("twin", twin), ("recovered", recovered)):
            logits = recovery.teacher_logits(model, tokens, 0)
            agree = float((logits.argmax(1) == reference.argmax(1)).mean())
            acc = float((logits.argmax(1) == tokens["label"].to_numpy()).mean())
            kl = recovery.score(model, tokens, 0, reference)["kl"]
            print(name, key, label, f"acc {acc:.4f} agree {agree:.4f} kl {kl:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
