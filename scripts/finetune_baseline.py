"""Snakemake entry point: fine-tune (or package) the baseline for one model."""

from greenbench.stages import finetune as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "finetune_baseline"):
    stage.run(snakemake)
