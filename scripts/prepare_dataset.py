"""Snakemake entry point: validate an SST-2 TSV (errors name file and line) and write Parquet."""

from greenbench.data.sst2 import prepare_dataset
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "prepare_dataset"):
    prepare_dataset(snakemake.input.tsv, snakemake.output[0], split=snakemake.wildcards.split)
