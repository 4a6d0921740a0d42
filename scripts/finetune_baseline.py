"""Snakemake entry point: fine-tune (or package) the baseline for one model."""

from greenbench.stages import finetune as stage
from greenbench.footprint import tracked

with tracked(snakemake, "finetune_baseline"):
    stage.run(snakemake)
