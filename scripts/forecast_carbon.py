"""Snakemake entry point: train forecasters on the train period, rolling-origin evaluation on the test period."""

from greenbench.stages import forecast_carbon as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "forecast_carbon"):
    stage.run(snakemake)
