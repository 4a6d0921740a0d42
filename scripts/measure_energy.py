"""Snakemake entry point: one measurement trial (all cells, shuffled) for one model on one device."""

from greenbench.stages import measure_energy as stage
from greenbench.footprint import tracked

with tracked(snakemake, "measure_energy"):
    stage.run(snakemake)
