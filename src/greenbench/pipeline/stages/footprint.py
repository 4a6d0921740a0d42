"""Stage `footprint`: ``run(job)`` (see greenbench.pipeline.stages) — every compute job's row in, the study's
footprint table out (rows priced at the configured zone's mean carbon intensity)."""

from __future__ import annotations


def run(j):
    from greenbench.analysis import study_cost as footprint
    from greenbench.core import io
    from greenbench.core.log import get_logger

    zone = j.params.settings["zone"]
    ci = footprint.grid_intensity(io.read_parquet(j.input.traces, columns=["zone", "ci"]), zone)
    table = footprint.combine([io.read_parquet(f) for f in j.input.rows], ci, zone)
    io.write_parquet(table, j.output[0], footprint.TABLE_SCHEMA, {"zone": zone, "ci_g_per_kwh": ci})
    log = get_logger(__name__)
    for row in footprint.by_stage(table).itertuples():
        log.info(
            "%-10s %3d jobs %8.1f s %10.6f kWh %8.3f gCO2e (%s%s)",
            row.stage,
            row.jobs,
            row.wall_s,
            row.kwh,
            row.co2e_g,
            row.label,
            f", {row.jobs_unavailable} without energy" if row.jobs_unavailable else "",
        )
    return table
