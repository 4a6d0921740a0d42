"""Stage `served_cell`: ``run(job)`` (see greenbench.pipeline.stages) — the answer's cell per device and
model (``greenbench.report.answer.served_cell``: the same choice as the answer's) from the energy and
accuracy statistics, for the routing simulation that serves it (``carbon.schedule.energy: answer``). It
reads no carbon table: a grid intensity edit reruns no routing."""

from __future__ import annotations


def run(j):
    from greenbench.core import io, provenance
    from greenbench.report import answer

    s = j.params.settings
    table = answer.served_cell(io.read_parquet(j.input.energy), io.read_parquet(j.input.accuracy), s["answer"])
    meta = {"settings": dict(s), "provenance": provenance.collect(dict(s))}
    io.write_parquet(table, j.output[0], answer.SERVED_SCHEMA, meta)
    return table
