"""Stage `retrieve_sst2`: ``run(job)`` (see greenbench.pipeline.stages) — SST-2 ``{split}.tsv`` into
resources/ (an existing file, the mirror's, or the Hub's when ``hub_fallback``)."""

from __future__ import annotations


def run(j):
    from greenbench.data.sst2 import retrieve_sst2

    return retrieve_sst2(j.wildcards.split, j.output[0], hub_fallback=j.params.settings["hub_fallback"])
