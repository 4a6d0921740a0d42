"""Stage `carbon_table`: ``run(job)`` (see greenbench.pipeline.stages) — gCO2e per 1,000 inferences per
measured cell at each grid of ``stats.grid_intensities``, from the measurements; its own step so that a grid
intensity edit reruns this table and what reads it (the answer, the paper), no other statistic."""

from __future__ import annotations


def run(j):
    from greenbench.analysis.summaries import write_carbon_table

    s = j.params.settings
    return write_carbon_table(j.input.measurements, j.output[0], s["stats"], s["seed"])
