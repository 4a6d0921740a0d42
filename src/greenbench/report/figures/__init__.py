"""Paper figures, one style (``greenbench.report.style``): a fixed variant order, a colour and marker per
variant family, human labels, units on every axis, single- or double-column print sizes, each saved
as PDF and PNG with a generated caption (``<name>.rst``: what it shows and its key numbers, from the
same tables). ``check_layout`` finds text that overlaps other text or data, for the tests and the
figures job's log. Importable without Snakemake.

One module per figure (or per related group of panels), each with its drawing function and its
caption; ``common`` holds the shared data selections and drawing helpers, ``layout`` the label
placement and the layout check, ``figure`` the registry every figure module registers itself in (``register_figure``), ``build``
loading the tables, drawing, checking and captioning them all (``make_all``)."""

from greenbench.report.figures.accuracy_by_variant import fig_accuracy
from greenbench.report.figures.build import build_all, caption_what, captions, load, log, make_all, save, write_all
from greenbench.report.figures.figure import FIGURES, Figure, ordered, register_figure
from greenbench.report.figures.carbon_panels import forecast_skill, forecast_vs_actual, mape_by_lead
from greenbench.report.figures.scheduler import fig_scheduler_front, policy_label, scheduler_front
from greenbench.report.figures.common import (
    MARKERS,
    REFERENCE,
    J,
    energy_label,
    highlighted,
    main_setting,
    pareto_table,
    study_variants,
)
from greenbench.report.figures.difficulty_by_length import (
    CONFIDENCE_EDGES,
    difficulty_tables,
    fig_difficulty,
    length_energy_table,
)
from greenbench.report.figures.energy_by_batch import fig_energy_by_batch
from greenbench.report.figures.latency_vs_throughput import fig_latency
from greenbench.report.figures.layout import check_layout, figure_texts, labels_variant, place_labels
from greenbench.report.figures.lifecycle import amortization, break_even_points, fig_amortization
from greenbench.report.figures.pareto_accuracy_energy import fig_pareto
from greenbench.report.figures.adaptive_router import fig_router, router_share
from greenbench.report.figures.spiking_firing_rates import firing_rates, firing_table

__all__ = [
    "FIGURES",
    "Figure",
    "caption_what",
    "ordered",
    "register_figure",
    "CONFIDENCE_EDGES",
    "J",
    "MARKERS",
    "REFERENCE",
    "amortization",
    "break_even_points",
    "build_all",
    "captions",
    "check_layout",
    "difficulty_tables",
    "energy_label",
    "fig_accuracy",
    "fig_amortization",
    "fig_difficulty",
    "fig_energy_by_batch",
    "fig_latency",
    "fig_pareto",
    "fig_router",
    "fig_scheduler_front",
    "figure_texts",
    "firing_rates",
    "firing_table",
    "forecast_skill",
    "forecast_vs_actual",
    "highlighted",
    "labels_variant",
    "length_energy_table",
    "load",
    "log",
    "main_setting",
    "make_all",
    "mape_by_lead",
    "pareto_table",
    "policy_label",
    "place_labels",
    "router_share",
    "save",
    "scheduler_front",
    "study_variants",
    "write_all",
]
