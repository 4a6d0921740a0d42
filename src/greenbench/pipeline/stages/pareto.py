"""Stage `pareto`: ``run(job)`` (see greenbench.pipeline.stages) — Pareto fronts and hypervolumes from the
accuracy and energy statistics; the uncertainty-aware front on the paired intervals against fp32 (accuracy
difference by sentence, ``ratios`` by trial). Reads no settings."""

from __future__ import annotations


def run(j):
    from greenbench.analysis.fronts import write_fronts

    i = j.input
    return write_fronts(i.accuracy, i.energy, j.output.points, j.output.hypervolume, i.ratios)
