"""Stage `finetune`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations


def run(j) -> None:
    from greenbench.data.training import finetune_baseline

    s = j.params.settings
    finetune_baseline(
        j.input.train,
        s["source"],
        j.output[0],
        s["train"],
        s["seed"],
        finetune=s["finetune"],
        threads=j.threads,
        model_name=j.wildcards.model,
    )
