"""Snakemake entry point: carbon-aware routing simulation for one scenario."""

from greenbench.stages import simulate_schedule as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "simulate_schedule"):
    stage.run(snakemake)
