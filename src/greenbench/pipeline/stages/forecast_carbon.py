"""Stage `forecast_carbon`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations


def run(j):
    import torch

    from greenbench.carbon.forecasting import run_forecasting

    if j.threads:
        torch.set_num_threads(j.threads)
    s = j.params.settings
    return run_forecasting(
        j.input.traces, s["forecast"], s["seed"], j.output.metrics, j.output.forecasts, j.output.model
    )
