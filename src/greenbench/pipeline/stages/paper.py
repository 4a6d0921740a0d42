"""Stage `paper`: ``run(job)`` (see greenbench.pipeline.stages) — tables (Markdown, LaTeX), the claims
check, the study's answer and the footprint page, then their HTML pages and the overview, in the folder
of ``claims``. Returns the claims' verdicts.

In the workflow every input exists; run from the CLI, the carbon inputs (``forecast_metrics``,
``schedule``), ``footprint``, ``amortization`` and the answer's tables (``answer``, ``answer_traffic``) may
be None (their tables and sections are left out).
"""

from __future__ import annotations


def run(j):
    from pathlib import Path

    from greenbench.report.html import write_pages
    from greenbench.report.tables import write_paper

    s, i = j.params.settings, j.input
    out_dir = Path(j.output.claims).parent
    verdicts = write_paper(
        Path(i.stats[0]).parent,
        i.measurements,
        out_dir,
        s["bootstrap"],
        s["seed"],
        forecast_metrics_path=i.forecast_metrics,
        schedule_path=i.schedule,
        first_stage=s["first_stage"],
        footprint_path=i.footprint,
        amortization_path=i.amortization,
        horizon=s["horizon"],
        answer_path=i.answer,
        answer_traffic_path=i.answer_traffic,
        answer_runtimes_path=getattr(i, "answer_runtimes", None),
        answer_composed_path=getattr(i, "answer_composed", None),
    )
    write_pages(out_dir)  # the report's inline HTML pages and its overview
    return verdicts
