"""Stage `tokenize`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations


def run(j) -> None:
    from greenbench.data.models import tokenize_split

    s = j.params.settings
    tokenize_split(j.input.dataset, s["source"], s["max_length"], j.output[0])
