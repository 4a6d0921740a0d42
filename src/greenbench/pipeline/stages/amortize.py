"""Stage `amortize`: ``run(job)`` (see greenbench.pipeline.stages) — the footprint's build energies and the
measured J/inference in, the break-even table and the amortized curves out."""

from __future__ import annotations


def run(j):
    from greenbench.analysis import amortization
    from greenbench.core import io
    from greenbench.core.log import get_logger

    s = j.params.settings
    table, curves = amortization.amortize(
        io.read_parquet(j.input.footprint),
        io.read_parquet(j.input.energy),
        io.read_parquet(j.input.ratios),
        int(s["batch_size"]),
        s["inferences"],
    )
    io.write_parquet(table, j.output.break_even, amortization.BREAK_EVEN_SCHEMA, {"settings": dict(s)})
    io.write_parquet(curves, j.output.curves, amortization.CURVE_SCHEMA, {"settings": dict(s)})
    log = get_logger(__name__)
    for row in table.itertuples():
        log.info(
            "%s %-28s build %8.1f kJ, %.4f J/inf, break-even N %s (%s)",
            row.device,
            row.variant,
            row.build_j / 1e3,
            row.j_per_inf,
            row.break_even_n,
            row.verdict,
        )
    return table
