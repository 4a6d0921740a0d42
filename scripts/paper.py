"""Snakemake entry point: tables (Markdown, LaTeX), the claims check, the answer and their HTML pages."""

from greenbench.pipeline.stages import paper as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "paper"):
    stage.run(snakemake)
