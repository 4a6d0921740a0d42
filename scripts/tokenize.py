"""Snakemake entry point: tokenize one split for one model."""

from greenbench.log import logged_script
from greenbench.models import tokenize_split

with logged_script(snakemake.log[0], "tokenize"):
    tokenize_split(snakemake.input.dataset, snakemake.params.source, snakemake.params.max_length, snakemake.output[0])
