"""Snakemake entry point: one measurement trial (all cells, shuffled) for one model on one device."""

from greenbench.stages import measure_energy as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "measure_energy"):
    stage.run(snakemake)
