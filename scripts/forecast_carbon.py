"""Snakemake entry point: train forecasters on the train period, rolling-origin evaluation on the test period."""

from greenbench.pipeline.stages import forecast_carbon as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "forecast_carbon"):
    stage.run(snakemake)
