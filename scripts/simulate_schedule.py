"""Snakemake entry point: carbon-aware routing simulation for one scenario."""

from greenbench.carbon.schedule import run_schedule
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "simulate_schedule"):
    run_schedule(snakemake.input.traces, snakemake.input.forecasts, snakemake.input.energy, snakemake.output[0],
                 snakemake.params.schedule, snakemake.params.seed)
