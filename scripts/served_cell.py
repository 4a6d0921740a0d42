"""Snakemake entry point: the answer's cell, as the routing simulation serves it."""

from greenbench.pipeline.stages import served_cell as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "served_cell"):
    stage.run(snakemake)
