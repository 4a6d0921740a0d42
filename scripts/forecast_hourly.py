"""Snakemake entry point: forecasts issued every hour of the scheduling window by the fitted forecasters."""

from greenbench.pipeline.stages import forecast_hourly as stage
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "forecast_hourly"):
    stage.run(snakemake)
