"""Snakemake entry point: per-example predictions of one (model, variant, device)."""

from greenbench.pipeline.stages import evaluate as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "evaluate"):
    stage.run(snakemake)
