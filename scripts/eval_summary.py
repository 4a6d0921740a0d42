"""Snakemake entry point: one accuracy table over every (model, variant, device)."""

from greenbench.measure.accuracy import summarize
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "eval_summary"):
    summarize(list(snakemake.input.predictions), snakemake.output[0])
