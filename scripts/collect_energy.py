"""Snakemake entry point: every measurement trial in one table."""

from greenbench.pipeline.stages import collect_energy as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "collect_energy"):
    stage.run(snakemake)
