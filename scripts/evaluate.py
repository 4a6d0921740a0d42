"""Snakemake entry point: per-example predictions of one (model, variant, device)."""

from greenbench.stages import evaluate as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "evaluate"):
    stage.run(snakemake)
