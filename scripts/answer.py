"""Snakemake entry point: the study's answer at the configured traffic and at each traffic level."""

from greenbench.pipeline.stages import answer as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "answer"):
    stage.run(snakemake)
