"""Snakemake entry point: one measurement trial (all cells, shuffled) for one model on one device."""

from greenbench.pipeline.stages import measure_energy as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "measure_energy"):
    stage.run(snakemake)
