"""Snakemake entry point: the stopping plan after the first stage of trials."""

from greenbench.pipeline.stages import plan_energy as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "plan_energy"):
    stage.run(snakemake)
