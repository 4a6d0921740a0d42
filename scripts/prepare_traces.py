"""Snakemake entry point: validate traces (hourly, monotonic, unique, non-negative), fill short gaps."""

from greenbench.carbon.traces import prepare_traces
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "prepare_traces"):
    prepare_traces(list(snakemake.input.csv), snakemake.output[0], snakemake.params.column, snakemake.params.max_gap_hours,
                   snakemake.params.max_ci)
