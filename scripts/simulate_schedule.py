"""Snakemake entry point: carbon-aware routing simulation for one scenario."""

from greenbench.pipeline.stages import simulate_schedule as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "simulate_schedule"):
    stage.run(snakemake)
