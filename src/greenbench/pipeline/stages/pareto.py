"""Stage `pareto`: ``run(job)`` (see greenbench.pipeline.stages) — Pareto fronts and hypervolumes from the
accuracy and energy statistics. Reads no settings."""

from __future__ import annotations


def run(j):
    from greenbench.analysis.fronts import write_fronts

    return write_fronts(j.input.accuracy, j.input.energy, j.output.points, j.output.hypervolume)
