"""Snakemake entry point: forecasts issued every hour of the scheduling window by the fitted forecasters."""

import torch

from greenbench.carbon.forecast import issue_hourly
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "forecast_hourly"):
    torch.set_num_threads(snakemake.threads)
    issue_hourly(snakemake.input.traces, snakemake.input.model, snakemake.params.forecast, snakemake.params.window,
                 snakemake.output[0])
