"""What a figure plugin is: a ``Figure`` entry in ``FIGURES`` (a ``greenbench.core.registry.Registry``
over this package). A figure module draws from the tables ``build.load`` reads, writes its caption
(what it shows, then key numbers from the same tables) and names its place in the Snakemake report;
registering it is all the figures job, the report and the workflow's outputs need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from greenbench.core.registry import Registry

# the report's categories (numbered: the report lists them alphabetically)
ANSWER, COST, ACCURACY, ENERGY, PARETO, CARBON, CLAIMS, TABLES = (
    "1. Answer",
    "2. What the study cost",
    "3. Accuracy",
    "4. Energy",
    "5. Pareto",
    "6. Carbon",
    "7. Claims",
    "8. Tables",
)


@dataclass(frozen=True)
class Figure:
    """``draw(data)`` returns a matplotlib figure from the loaded tables (``build.load``);
    ``caption(data)`` returns (what it shows, [key numbers]); ``what`` is the caption's first part when
    the numbers cannot be computed; ``place`` is its (category, subcategory) in the report; ``order``
    its place among the figures."""

    name: str
    order: int
    draw: Callable[[dict], Any]
    caption: Callable[[dict], tuple[str, list[str]]]
    what: str
    place: tuple[str, str]


FIGURES: Registry[Figure] = Registry(
    "figure", "greenbench.report.figures", support=("build", "common", "figure", "layout")
)
register_figure = FIGURES.register


def ordered() -> list[Figure]:
    """Every registered figure, in figure order."""
    return sorted(FIGURES.values(), key=lambda f: (f.order, f.name))
