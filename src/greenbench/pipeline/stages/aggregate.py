"""Stage `aggregate`: ``run(job)`` (see greenbench.pipeline.stages) — statistics over the trials and the
evaluations, one table each in the folder of the first output: every statistics table but the carbon one
(stage ``carbon_table``, the only one that reads the grids' intensities)."""

from __future__ import annotations


def run(j):
    from pathlib import Path

    from greenbench.analysis.summaries import aggregate

    s = j.params.settings
    return aggregate(j.input.measurements, list(j.input.predictions), Path(j.output[0]).parent, s["stats"], s["seed"])
