"""Snakemake entry point: validate traces (hourly, monotonic, unique, non-negative), fill short gaps."""

from greenbench.pipeline.stages import prepare_traces as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "prepare_traces"):
    stage.run(snakemake)
