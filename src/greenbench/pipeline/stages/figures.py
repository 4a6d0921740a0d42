"""Stage `figures`: ``run(job)`` (see greenbench.pipeline.stages) — the paper figures (PDF and PNG) and
their generated captions (.rst), in the folder of the ``captions``. Its settings (``wiring.figures``) are
what the figures draw beside the data: the answer's accuracy and latency bounds."""

from __future__ import annotations


def run(j):
    from pathlib import Path

    from greenbench.report.figures import make_all

    i = j.input
    return make_all(
        i.accuracy,
        i.energy,
        i.points,
        list(i.predictions),
        i.forecasts,
        i.forecast_metrics,
        i.schedule,
        i.eval_summary,
        i.energy_by_length,
        Path(j.output.captions[0]).parent,
        i.amortization_curves,
        ratios_path=i.ratios,
        settings=j.params.settings,
        amortization_path=getattr(i, "amortization", None),
    )
