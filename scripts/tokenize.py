"""Snakemake entry point: tokenize one split for one model."""

from greenbench.stages import tokenize as stage
from greenbench.footprint import tracked

with tracked(snakemake, "tokenize"):
    stage.run(snakemake)
