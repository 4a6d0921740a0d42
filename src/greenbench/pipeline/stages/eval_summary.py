"""Stage `eval_summary`: ``run(job)`` (see greenbench.pipeline.stages) — one accuracy table over every
(model, variant, device). Reads no settings."""

from __future__ import annotations


def run(j):
    from greenbench.measure.accuracy import summarize

    return summarize(list(j.input.predictions), j.output[0])
