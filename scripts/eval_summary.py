"""Snakemake entry point: one accuracy table over every (model, variant, device)."""

from greenbench.pipeline.stages import eval_summary as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "eval_summary"):
    stage.run(snakemake)
