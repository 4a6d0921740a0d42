"""Stage `simulate_schedule`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations

import os


def run(j):
    from greenbench.carbon.routing import run_schedule

    s = j.params.settings
    energy = getattr(j.input, "energy", None)  # none when carbon.schedule.energy gives the values
    if energy is not None and not isinstance(energy, (str, os.PathLike)):  # Snakemake: a list of 0 or 1 file
        energy = next(iter(energy), None)
    return run_schedule(j.input.traces, j.input.forecasts, energy, j.output[0], s["schedule"], s["seed"])
