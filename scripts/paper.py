"""Snakemake entry point: tables (Markdown, LaTeX), the claims check, the answer and their HTML pages."""

from pathlib import Path

from greenbench.core.log import logged_script
from greenbench.report.tables import write_paper
from greenbench.report.html import write_pages

with logged_script(snakemake.log[0], "paper"):
    write_paper(Path(snakemake.input.stats[0]).parent, snakemake.input.measurements, Path(snakemake.output.claims).parent,
                snakemake.params.stats["bootstrap"], snakemake.params.seed,
                forecast_metrics_path=snakemake.input.forecast_metrics, schedule_path=snakemake.input.schedule,
                first_stage=snakemake.params.stats["first_stage"], footprint_path=snakemake.input.footprint,
                amortization_path=snakemake.input.amortization, horizon=snakemake.params.horizon,
                answer_settings=snakemake.params.answer)
    write_pages(Path(snakemake.output.claims).parent)  # the report's inline HTML pages and its overview
