"""Each rewrite of the default study built with config/paper.yaml's recovery recipes (its `variants` block merged
over config/config.yaml's) on the default study's baseline, scored on dev: the reference the default's
accuracy is reported against (issue 35).

    python experiments/2026-12-07-recovery-budget/paper_recipes.py [variant ...]

Needs the default study's results/ (baseline and tokens), like sweep.py. Prints one JSON line per variant.
"""

from __future__ import annotations

import sys

import yaml

from sweep import ROOT, main as sweep

REWRITES = ("magnitude50", "topk16_ft", "prune_heads25", "prune_ffn25", "prune_heads50", "spiking")


def paper_overrides() -> list[str]:
    """paper.yaml's `variants` keys as sweep.py overrides (``dotted.key=yaml``)."""
    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())["variants"]

    def flatten(prefix: str, node) -> list[str]:
        if isinstance(node, dict):
            return [item for k, v in node.items() for item in flatten(f"{prefix}.{k}", v)]
        return [f"{prefix}={yaml.safe_dump(node, default_flow_style=True).strip().removesuffix('...').strip()}"]

    return flatten("variants", paper)


if __name__ == "__main__":
    for variant in sys.argv[1:] or REWRITES:
        sweep([variant, *paper_overrides()])
