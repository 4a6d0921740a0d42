"""Snakemake entry point: train forecasters on the train period, rolling-origin evaluation on the test period."""

import torch

from greenbench.carbon.forecast import run_forecasting
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "forecast_carbon"):
    torch.set_num_threads(snakemake.threads)
    run_forecasting(snakemake.input.traces, snakemake.params.forecast, snakemake.params.seed,
                    snakemake.output.metrics, snakemake.output.forecasts, snakemake.output.model)
