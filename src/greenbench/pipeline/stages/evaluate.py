"""Stage `evaluate`: ``run(job)`` (see greenbench.pipeline.stages)."""

from __future__ import annotations

from typing import Any


def run(j) -> dict[str, Any]:
    from greenbench.measure.accuracy import evaluate
    from greenbench.pipeline.dag import optional_input

    s, w = j.params.settings, j.wildcards
    return evaluate(
        j.input.model,
        j.input.dev,
        w.variant,
        w.device,
        j.output[0],
        batch_size=s["evaluate"]["batch_size"],
        dev_subset=s["evaluate"]["dev_subset"],
        seed=s["seed"],
        threads=j.threads,
        model_name=w.model,
        artifact=optional_input(getattr(j.input, "artifact", None)),
        variant_params=s["variant"],
    )
