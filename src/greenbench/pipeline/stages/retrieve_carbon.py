"""Stage `retrieve_carbon`: ``run(job)`` (see greenbench.pipeline.stages) — one Electricity Maps trace
({zone}, {year}) into resources/carbon/ (the existing file, or the mirror's once it validates)."""

from __future__ import annotations


def run(j):
    from greenbench.carbon.traces import retrieve_trace

    s, w = j.params.settings, j.wildcards
    return retrieve_trace(w.zone, int(w.year), j.output[0], s["column"], s["max_ci_g_per_kwh"], s["max_gap_hours"])
