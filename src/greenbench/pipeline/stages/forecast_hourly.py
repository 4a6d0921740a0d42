"""Stage `forecast_hourly`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations


def run(j):
    import torch

    from greenbench.carbon.forecasting import issue_hourly

    if j.threads:
        torch.set_num_threads(j.threads)
    s = j.params.settings
    return issue_hourly(j.input.traces, j.input.model, s["forecast"], s["window"], j.output[0])
