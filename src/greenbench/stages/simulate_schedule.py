"""Stage `simulate_schedule`: ``run(job)`` (see greenbench.stages)."""

from __future__ import annotations


def run(j):
    from greenbench.carbon.schedule import run_schedule

    s = j.params.settings
    return run_schedule(j.input.traces, j.input.forecasts, j.input.energy, j.output[0], s["schedule"], s["seed"])
