"""Stage `answer`: ``run(job)`` (see greenbench.pipeline.stages) — the study's answer from the statistics
(accuracy, energy, carbon) and the measurements (the paired ordering), at the configured traffic
(``paths.ANSWER``: one row per device and model) and at each traffic level (``paths.ANSWER_TRAFFIC``: one
row per device, model and level), every runtime's greenest qualifying cell (``paths.ANSWER_RUNTIMES``) and
the best composed recipe against the best single one (``paths.ANSWER_COMPOSED``). Returns the headline
table."""

from __future__ import annotations


def run(j):
    from greenbench.analysis import summaries
    from greenbench.core import io, provenance
    from greenbench.core.log import get_logger
    from greenbench.report import answer

    s, i = j.params.settings, j.input
    settings, first_stage = s["answer"], int(s["first_stage"])
    tables = (
        io.read_parquet(i.energy),
        io.read_parquet(i.accuracy),
        io.read_parquet(i.carbon),
        summaries.usable(io.read_parquet(i.measurements)),
    )
    headline = answer.answer(*tables, settings, first_stage=first_stage)
    levels = answer.traffic_table(*tables, settings, first_stage=first_stage)
    meta = {"settings": dict(s), "provenance": provenance.collect(dict(s))}
    io.write_parquet(headline, j.output.answer, answer.SCHEMA, meta)
    io.write_parquet(levels, j.output.traffic, answer.SCHEMA, meta)
    io.write_parquet(answer.by_runtime(*tables[:3], settings), j.output.runtimes, answer.RUNTIME_SCHEMA, meta)
    composed = answer.composed_vs_single(*tables, settings, first_stage=first_stage)
    io.write_parquet(composed, j.output.composed, answer.COMPOSED_SCHEMA, meta)
    log = get_logger(__name__)
    for row in levels.itertuples():
        log.info(
            "%s/%s at %.3g requests/s: %s",
            row.device,
            row.model,
            row.traffic_rps,
            row.reason or f"{row.variant} at batch {row.batch_size} (mean {row.effective_batch:.2f})",
        )
    return headline
