"""Snakemake entry point: statistics over trials and evaluations."""

from pathlib import Path

from greenbench.analysis.summaries import aggregate
from greenbench.analysis.study_cost import tracked

with tracked(snakemake, "aggregate"):
    aggregate(snakemake.input.measurements, list(snakemake.input.predictions), Path(snakemake.output[0]).parent,
              snakemake.params.stats, snakemake.params.seed)
