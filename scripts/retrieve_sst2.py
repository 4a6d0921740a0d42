"""Snakemake entry point: put SST-2 {split}.tsv into resources/ (existing file, mirror, or Hub)."""

from greenbench.pipeline.stages import retrieve_sst2 as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "retrieve_sst2"):
    stage.run(snakemake)
