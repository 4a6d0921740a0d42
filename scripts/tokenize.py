"""Snakemake entry point: tokenize one split for one model."""

from greenbench.pipeline.stages import tokenize as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "tokenize"):
    stage.run(snakemake)
