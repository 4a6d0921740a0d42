"""Snakemake entry point: build a variant's artifact (calibration, pruned weights) for one model and device."""

from greenbench.log import logged_script
from greenbench.variants import get

with logged_script(snakemake.log[0], "build_variant") as log:
    w = snakemake.wildcards
    report = get(w.variant).build(
        snakemake.input.model,
        snakemake.input.train,
        snakemake.output[0],
        w.device,
        snakemake.params.variant,
        snakemake.params.seed,
        snakemake.params.finetune,
    )
    log.info("%s/%s on %s built: %s", w.model, w.variant, w.device, report)
