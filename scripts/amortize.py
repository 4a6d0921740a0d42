"""Snakemake entry point: lifecycle energy per variant (build + N inferences) and its break-even against fp32."""

from greenbench.pipeline.stages import amortize as stage
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "amortize"):
    stage.run(snakemake)
