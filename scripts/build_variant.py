"""Snakemake entry point: build a variant's artifact (calibration, pruned weights) for one model and device."""

from greenbench.stages import build_variant as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "build_variant"):
    stage.run(snakemake)
