"""Snakemake entry point: validate an SST-2 TSV (errors name file and line) and write Parquet."""

from greenbench.pipeline.stages import prepare_dataset as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "prepare_dataset"):
    stage.run(snakemake)
