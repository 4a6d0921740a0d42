"""Snakemake entry point: per-example predictions of one (model, variant, device)."""

from greenbench.stages import evaluate as stage
from greenbench.footprint import tracked

with tracked(snakemake, "evaluate"):
    stage.run(snakemake)
