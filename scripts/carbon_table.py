"""Snakemake entry point: gCO2e per 1,000 inferences per cell and grid."""

from greenbench.pipeline.stages import carbon_table as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "carbon_table"):
    stage.run(snakemake)
