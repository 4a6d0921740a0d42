"""Snakemake entry point: per-example predictions of one (model, variant, device)."""

from greenbench.evaluate import evaluate
from greenbench.log import logged_script
from greenbench.workflow import optional_input

with logged_script(snakemake.log[0], "evaluate"):
    w = snakemake.wildcards
    evaluate(
        snakemake.input.model,
        snakemake.input.dev,
        w.variant,
        w.device,
        snakemake.output[0],
        batch_size=snakemake.params.evaluate["batch_size"],
        dev_subset=snakemake.params.evaluate["dev_subset"],
        seed=snakemake.params.seed,
        threads=snakemake.threads,
        model_name=w.model,
        artifact=optional_input(getattr(snakemake.input, "artifact", None)),
        variant_params=snakemake.params.variant,
    )
