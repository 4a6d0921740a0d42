"""Snakemake entry point: paper figures (PDF and PNG) and their generated captions (.rst)."""

from greenbench.pipeline.stages import figures as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "figures"):
    stage.run(snakemake)
