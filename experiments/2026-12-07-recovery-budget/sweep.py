"""Recovery sweep: build one trained variant under config overrides and score it on dev.

    python experiments/2026-12-07-recovery-budget/sweep.py magnitude50 'variants.recovery.learning_rate=3e-4' ...

Needs results/models/minilm/baseline and results/tokens/minilm/{train,dev}.parquet (the
default study's). Prints one JSON line: variant, overrides, dev accuracy, build seconds, selection.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from greenbench.config.load import deep_merge, load_config
from greenbench.measure.accuracy import evaluate
from greenbench.pipeline.wiring import build_finetune, variant_params

ROOT = Path(__file__).resolve().parents[2]


def override(path: str, value) -> dict:
    out: dict = {}
    node = out
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return out


def main(argv: list[str]) -> None:
    variant, sets = argv[0], argv[1:]
    config = load_config([ROOT / "config" / "config.yaml"])
    for item in sets:
        key, raw = item.split("=", 1)
        config = deep_merge(config, override(key, yaml.safe_load(raw)))
    from greenbench.cells.variants import get

    model = ROOT / "results/models/minilm/baseline"
    train = ROOT / "results/tokens/minilm/train.parquet"
    dev = ROOT / "results/tokens/minilm/dev.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(tmp) / "artifact"
        started = time.perf_counter()
        report = get(variant).build(
            model, train, art, "cpu", variant_params(config, variant), config["seed"], build_finetune(config, variant)
        )
        built = time.perf_counter() - started
        meta = evaluate(
            model,
            dev,
            variant,
            "cpu",
            Path(tmp) / "p.parquet",
            artifact=art,
            variant_params=variant_params(config, variant),
            seed=config["seed"],
        )
    sel = report.get("selection") or {}
    print(
        json.dumps(
            {
                "variant": variant,
                "overrides": sets,
                "accuracy": meta["accuracy"],
                "build_s": round(built, 1),
                "kept_step": sel.get("kept_step"),
                "nll": [(c["step"], round(c["nll"], 4)) for c in sel.get("checks", [])],
                "checks": [(c["step"], round(c["accuracy"], 4)) for c in sel.get("checks", [])],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
