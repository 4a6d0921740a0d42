"""Snakemake entry point: build a variant's artifact (calibration, pruned weights) for one model and device."""

from greenbench.pipeline.stages import build_variant as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "build_variant"):
    stage.run(snakemake)
