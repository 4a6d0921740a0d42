"""Snakemake entry point: Pareto fronts and hypervolumes."""

from greenbench.pipeline.stages import pareto as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "pareto"):
    stage.run(snakemake)
