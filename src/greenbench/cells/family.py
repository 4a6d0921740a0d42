"""What a family of cells looks like in the figures: each recipe family (precision, pruning, ...) and each
runtime declares its ``Family`` in its own module, beside its recipes or runtime; the figures' style
(``greenbench.report.style``) reads them from ``FAMILIES``."""

from __future__ import annotations

from dataclasses import dataclass

from greenbench.core.registry import Registry


@dataclass(frozen=True)
class Family:
    """``label`` for legends, ``colour`` (colour-blind safe) and ``marker`` (apart in grayscale),
    ``order`` among the families in every figure, ``group`` the small-multiple panel it is drawn in."""

    name: str
    label: str
    colour: str
    marker: str
    order: int
    group: str


# declared by the recipe and runtime modules (found through their registries: ``families()``)
FAMILIES: Registry[Family] = Registry("family")
register_family = FAMILIES.register


def families() -> dict[str, Family]:
    """Every declared family, in figure order (the recipe and runtime packages are discovered first)."""
    from greenbench.cells.runtimes import RUNTIMES
    from greenbench.cells.variants import REGISTRY

    REGISTRY.load()
    RUNTIMES.load()
    return {f.name: f for f in sorted(FAMILIES.values(), key=lambda f: (f.order, f.name))}
