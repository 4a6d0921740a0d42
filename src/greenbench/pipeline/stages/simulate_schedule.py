"""Stage `simulate_schedule`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations

import os


def _one(path):
    """A path, or None: Snakemake gives a list of 0 or 1 file for an input function's result."""
    if path is not None and not isinstance(path, (str, os.PathLike)):
        path = next(iter(path), None)
    return path


def run(j):
    from greenbench.carbon.routing import run_schedule

    s = j.params.settings
    # the energy statistics (a measured served cell) or the answer table (carbon.schedule.energy: answer);
    # neither when carbon.schedule.energy gives the values
    energy = _one(getattr(j.input, "energy", None))
    answer = _one(getattr(j.input, "answer", None))
    return run_schedule(
        j.input.traces, j.input.forecasts, energy, j.output[0], s["schedule"], s["seed"], answer_path=answer
    )
