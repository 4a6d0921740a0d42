"""Snakemake entry point: one measurement trial (all cells, shuffled) for one model on one device."""

from pathlib import Path

from greenbench.energy.protocol import run_trial
from greenbench.log import logged_script

with logged_script(snakemake.log[0], "measure_energy"):
    w = snakemake.wildcards
    artifacts = {Path(p).name: p for p in snakemake.input.artifacts}  # .../{variant}
    run_trial(
        snakemake.input.model,
        snakemake.input.dev,
        snakemake.output[0],
        model_name=w.model,
        device=w.device,
        variant_names=list(snakemake.params.study_variants),
        artifacts=artifacts,
        variant_params=snakemake.params.variants,
        trial=int(w.trial),
        seed=snakemake.params.seed,
        cfg=snakemake.params.energy,
        max_length=snakemake.params.max_length,
        threads=snakemake.threads,
    )
