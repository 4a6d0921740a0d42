"""Snakemake entry point: every measurement trial in one table."""

from greenbench.measure.energy.protocol import combine_trials
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "collect_energy"):
    combine_trials(list(snakemake.input.trials), snakemake.output[0])
