"""Snakemake entry point: build a variant's artifact (calibration, pruned weights) for one model and device."""

from greenbench.stages import build_variant as stage
from greenbench.footprint import tracked

with tracked(snakemake, "build_variant"):
    stage.run(snakemake)
