"""Variant registry: every recipe family is a module of this package and registers itself in
``REGISTRY`` (a ``greenbench.core.registry.Registry``, which imports the family modules on its first
lookup): adding a family adds a module, and a job depends only on the family modules its own cells
use (``cell_modules``)."""

from greenbench.cells.variants import recipe as _base
from greenbench.cells.variants.recipe import (
    DEVICES,
    REGISTRY,
    RUNTIME_SEP,
    NotApplicable,
    Prepared,
    Variant,
    cell_name,
    footprint,
    params_for,
    recording_stats,
    register,
    split_name,
)
from greenbench.cells import runtimes  # noqa: E402  (the runtime registry: torch.compile, ONNX Runtime)

MODULE_OF = REGISTRY.modules  # recipe name -> the family module that registered it (a lazy view)


def get(name: str) -> Variant:
    """A registered recipe, or ``<recipe>@<runtime>``: the recipe run by a registered runtime."""
    if RUNTIME_SEP in name:
        recipe, runtime = split_name(name)
        return runtimes.compose(_base.get(recipe), runtime)
    return _base.get(name)


def cell_modules(name: str) -> list[str]:
    """The plugin modules a study cell runs: its recipe's family module and its runtime's module."""
    recipe, runtime = split_name(name)
    out = [MODULE_OF[recipe]] if recipe in MODULE_OF else []
    if runtime in runtimes.MODULE_OF:
        out.append(runtimes.MODULE_OF[runtime])
    return out


__all__ = [
    "DEVICES",
    "MODULE_OF",
    "REGISTRY",
    "cell_modules",
    "NotApplicable",
    "Prepared",
    "Variant",
    "cell_name",
    "footprint",
    "get",
    "params_for",
    "recording_stats",
    "register",
    "split_name",
]
