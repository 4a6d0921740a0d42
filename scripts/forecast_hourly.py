"""Snakemake entry point: forecasts issued every hour of the scheduling window by the fitted forecasters."""

from greenbench.stages import forecast_hourly as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "forecast_hourly"):
    stage.run(snakemake)
