"""Snakemake entry point: carbon-aware routing simulation for one scenario."""

from greenbench.stages import simulate_schedule as stage
from greenbench.footprint import tracked

with tracked(snakemake, "simulate_schedule"):
    stage.run(snakemake)
