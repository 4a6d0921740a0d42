"""Stage `collect_energy`: ``run(job)`` (see greenbench.pipeline.stages) — every measurement trial in one
table. Reads no settings."""

from __future__ import annotations


def run(j):
    from greenbench.measure.energy.trial import combine_trials

    return combine_trials(list(j.input.trials), j.output[0])
