"""Stage `measure_energy`: ``run(job)`` (see greenbench.stages)."""

from __future__ import annotations


def run(j):
    from pathlib import Path

    from greenbench.energy.protocol import run_trial

    s, w = j.params.settings, j.wildcards
    artifacts = {Path(p).name: p for p in j.input.artifacts}  # .../{variant}
    return run_trial(j.input.model, j.input.dev, j.output[0], model_name=w.model, device=w.device,
                     variant_names=list(s["study_variants"]), artifacts=artifacts, variant_params=s["variants"],
                     trial=int(w.trial), seed=s["seed"], cfg=s["energy"], max_length=s["max_length"],
                     threads=j.threads)
