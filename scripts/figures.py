"""Snakemake entry point: paper figures (PDF and PNG) and their generated captions (.rst)."""

from pathlib import Path

from greenbench.report.figures import make_all
from greenbench.core.log import logged_script

with logged_script(snakemake.log[0], "figures"):
    i = snakemake.input
    make_all(i.accuracy, i.energy, i.points, list(i.predictions), i.forecasts, i.forecast_metrics, i.schedule, i.eval_summary,
             i.energy_by_length, Path(snakemake.output.captions[0]).parent, i.amortization_curves)
