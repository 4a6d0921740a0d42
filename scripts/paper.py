"""Snakemake entry point: tables (Markdown, LaTeX) and the claims check."""

from pathlib import Path

from greenbench.log import logged_script
from greenbench.paper import write_paper

with logged_script(snakemake.log[0], "paper"):
    write_paper(Path(snakemake.input.stats[0]).parent, snakemake.input.measurements, Path(snakemake.output.claims).parent,
                snakemake.params.stats["bootstrap"], snakemake.params.seed,
                forecast_metrics_path=snakemake.input.forecast_metrics, schedule_path=snakemake.input.schedule,
                first_stage=snakemake.params.stats["first_stage"], footprint_path=snakemake.input.footprint,
                amortization_path=snakemake.input.amortization, horizon=snakemake.params.horizon,
                answer_settings=snakemake.params.answer)
