"""Stage `measure_energy`: ``run(job)`` (see greenbench.pipeline.stages). A first-stage trial measures every
cell; a later trial (sequential stopping) reads the plan and measures only the cells it names."""

from __future__ import annotations


def run(j):
    from pathlib import Path

    from greenbench.core import io
    from greenbench.measure.energy import plan
    from greenbench.measure.energy.trial import run_trial

    s, w = j.params.settings, j.wildcards
    artifacts = {Path(p).name: p for p in j.input.artifacts}  # .../{variant}
    names, cells = list(s["study_variants"]), None
    plan_file = getattr(j.input, "plan", None)
    if plan_file is not None and not isinstance(plan_file, (str, Path)):  # Snakemake: a (possibly empty) list
        plan_file = plan_file[0] if len(plan_file) else None
    if plan_file:  # a later trial: only the cells whose plan needs it (the study's order of variants kept)
        cells = [c for c in plan.cells_for_trial(io.read_parquet(plan_file), int(w.trial)) if c.variant in names]
        wanted = {c.variant for c in cells}
        names = [n for n in names if n in wanted]
    return run_trial(
        j.input.model,
        j.input.dev,
        j.output[0],
        model_name=w.model,
        device=w.device,
        variant_names=names,
        artifacts=artifacts,
        variant_params=s["variants"],
        trial=int(w.trial),
        seed=s["seed"],
        cfg=s["energy"],
        max_length=s["max_length"],
        threads=j.threads,
        cells=cells,
    )
