"""Snakemake entry point: the baseline's logits on one recovery draw, shared by every rewrite that recovers on it."""

from greenbench.pipeline.stages import teacher_logits as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "teacher_logits"):
    stage.run(snakemake)
