"""Stage `prepare_dataset`: ``run(job)`` (see greenbench.pipeline.stages) — an SST-2 TSV validated (errors
name file and line) and written as Parquet. Reads no settings."""

from __future__ import annotations


def run(j):
    from greenbench.data.sst2 import prepare_dataset

    return prepare_dataset(j.input.tsv, j.output[0], split=j.wildcards.split)
