"""Stage `plan_energy`: ``run(job)`` (see greenbench.pipeline.stages) — the first stage's trials in, the
stopping rule's plan out (which cells each later trial measures)."""

from __future__ import annotations


def run(j):
    import pandas as pd

    from greenbench.core import io
    from greenbench.measure.energy import plan
    from greenbench.core.log import get_logger

    s, w = j.params.settings, j.wildcards
    stage1 = pd.concat([io.read_parquet(f) for f in j.input.trials], ignore_index=True)
    contender = None
    if s.get("contenders"):
        accuracy = plan.accuracies(list(j.input.evals))
        contender = plan.contenders(
            stage1, accuracy, float(s["max_accuracy_loss_pts"]), float(s["level"]), int(s["first_stage"])
        )
    df = plan.plan_trials(
        stage1,
        float(s["target"]),
        float(s["level"]),
        int(s["first_stage"]),
        int(s["max_trials"]),
        device=w.device,
        model=w.model,
        contender=contender,
    )
    summary = plan.budget_summary(df, int(s["first_stage"]))
    io.write_parquet(
        df,
        j.output[0],
        plan.PLAN_SCHEMA,
        {"settings": dict(s), "budget": summary, "trials": [str(f) for f in j.input.trials]},
    )
    get_logger(__name__).info(
        "%s/%s: %d cells (%d contenders); after the first %d trials, %d more cell-trials (up to trial %d); %d cells "
        "need more than the cap of %d trials for a +-%.1f%% interval",
        w.device,
        w.model,
        summary["cells"],
        summary["contenders"],
        summary["first_stage"],
        summary["later_cell_trials"],
        summary["max_trials"],
        summary["capped"],
        int(s["max_trials"]),
        100 * float(s["target"]),
    )
    return df
