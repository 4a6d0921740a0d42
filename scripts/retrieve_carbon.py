"""Snakemake entry point: put one Electricity Maps trace into resources/carbon/ (existing file, or the
mirror's once it validates)."""

from greenbench.carbon.traces import retrieve_trace
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "retrieve_carbon"):
    retrieve_trace(snakemake.wildcards.zone, int(snakemake.wildcards.year), snakemake.output[0], **snakemake.params)
