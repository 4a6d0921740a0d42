"""Stage `prepare_traces`: ``run(job)`` (see greenbench.pipeline.stages) — the trace files validated (hourly,
monotonic, unique, non-negative), short gaps filled, one table out."""

from __future__ import annotations


def run(j):
    from greenbench.carbon.traces import prepare_traces

    s = j.params.settings
    return prepare_traces(
        list(j.input.csv),
        j.output[0],
        s["column"],
        s["max_gap_hours"],
        s["max_ci_g_per_kwh"],
        sources=s["sources"],
        zones=list(s["zones"]),
        years=list(s["years"]),
    )
