"""Snakemake entry point: tokenize one split for one model."""

from greenbench.stages import tokenize as stage
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "tokenize"):
    stage.run(snakemake)
