"""Snakemake entry point: fine-tune (or package) the baseline for one model."""

from greenbench.pipeline.stages import finetune as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "finetune"):
    stage.run(snakemake)
