"""Snakemake entry point: train forecasters on the train period, rolling-origin evaluation on the test period."""

from greenbench.stages import forecast_carbon as stage
from greenbench.footprint import tracked

with tracked(snakemake, "forecast_carbon"):
    stage.run(snakemake)
