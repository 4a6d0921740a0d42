"""Snakemake entry point: every compute job's footprint row, combined and priced in gCO2e."""

from greenbench.pipeline.stages import footprint as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "footprint"):
    stage.run(snakemake)
