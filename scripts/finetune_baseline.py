"""Snakemake entry point: fine-tune (or package) the baseline for one model."""

from greenbench.log import logged_script
from greenbench.training import finetune_baseline

with logged_script(snakemake.log[0], "finetune_baseline"):
    finetune_baseline(
        snakemake.input.train,
        snakemake.params.source,
        snakemake.output[0],
        snakemake.params.train,
        snakemake.params.seed,
        finetune=snakemake.params.finetune,
        threads=snakemake.threads,
        model_name=snakemake.wildcards.model,
    )
