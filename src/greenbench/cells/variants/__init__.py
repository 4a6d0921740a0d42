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
from greenbench.core.names import CHAIN_SEP, chain_parts  # noqa: E402
from greenbench.cells import runtimes  # noqa: E402  (the runtime registry: torch.compile, ONNX Runtime)

MODULE_OF = REGISTRY.modules  # recipe name -> the family module that registered it (a lazy view)


def get(name: str) -> Variant:
    """A registered recipe, or ``<recipe>@<runtime>``: the recipe run by a registered runtime, or
    ``<structural>+<numeric>@<runtime>``: a chain (``greenbench.cells.runtimes.chain``)."""
    recipe, runtime = split_name(name)
    if CHAIN_SEP in recipe:
        return runtimes.chain(name)
    if RUNTIME_SEP in name:
        return runtimes.compose(_base.get(recipe), runtime)
    return _base.get(name)


def cell_modules(name: str) -> list[str]:
    """The plugin modules a study cell runs: its recipes' family modules and its runtime's module."""
    recipe, runtime = split_name(name)
    out = [MODULE_OF[step] for step in dict.fromkeys(chain_parts(recipe)) if step in MODULE_OF]
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
