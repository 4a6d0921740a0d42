"""Snakemake entry point: validate traces (hourly, monotonic, unique, non-negative), fill short gaps."""

from greenbench.carbon.traces import prepare_traces
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "prepare_traces"):
    p = snakemake.params
    prepare_traces(list(snakemake.input.csv), snakemake.output[0], p.column, p.max_gap_hours, p.max_ci,
                   sources=p.sources, zones=list(p.zones), years=list(p.years))
