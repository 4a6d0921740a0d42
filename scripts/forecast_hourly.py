"""Snakemake entry point: forecasts issued every hour of the scheduling window by the fitted forecasters."""

from greenbench.stages import forecast_hourly as stage
from greenbench.footprint import tracked

with tracked(snakemake, "forecast_hourly"):
    stage.run(snakemake)
