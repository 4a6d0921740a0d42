"""Snakemake entry point: put SST-2 {split}.tsv into resources/ (existing file, mirror, or Hub)."""

from greenbench.data.sst2 import retrieve_sst2
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "retrieve_sst2"):
    retrieve_sst2(snakemake.wildcards.split, snakemake.output[0], hub_fallback=snakemake.params.hub_fallback)
