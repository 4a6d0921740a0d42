"""Snakemake entry point: put one Electricity Maps trace into resources/carbon/ (existing file, or the
mirror's once it validates)."""

from greenbench.pipeline.stages import retrieve_carbon as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "retrieve_carbon"):
    stage.run(snakemake)
