"""Snakemake entry point: paper figures (PDF and PNG)."""

from pathlib import Path

from greenbench.figures import make_all
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "figures"):
    make_all(snakemake.input.accuracy, snakemake.input.energy, snakemake.input.points, list(snakemake.input.predictions),
             Path(snakemake.output[0]).parent)
