"""Snakemake entry point: Pareto fronts and hypervolumes."""

from greenbench.analysis.fronts import write_fronts
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "pareto"):
    write_fronts(snakemake.input.accuracy, snakemake.input.energy, snakemake.output.points, snakemake.output.hypervolume)
