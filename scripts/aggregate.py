"""Snakemake entry point: statistics over trials and evaluations."""

from greenbench.pipeline.stages import aggregate as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "aggregate"):
    stage.run(snakemake)
