"""Stage `forecast_carbon`: ``run(job)`` (see greenbench.stages)."""

from __future__ import annotations


def run(j):
    import torch

    from greenbench.carbon.forecast import run_forecasting

    if j.threads:
        torch.set_num_threads(j.threads)
    s = j.params.settings
    return run_forecasting(j.input.traces, s["forecast"], s["seed"], j.output.metrics, j.output.forecasts,
                           j.output.model)
