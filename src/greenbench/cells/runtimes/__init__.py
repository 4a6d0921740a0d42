"""Runtime registry: what executes a recipe (PyTorch eager, torch.compile, AOTInductor, ONNX Runtime).

``<recipe>@<runtime>`` names a study cell; ``greenbench.cells.variants.get`` composes it on demand.
Each runtime is a module of this package, registered in ``RUNTIMES`` (a ``greenbench.core.registry.Registry``,
which imports them on its first lookup)."""

from greenbench.cells.runtimes.runtime import (
    RUNTIMES,
    Runtime,
    chain,
    chain_problem,
    compose,
    get_runtime,
    read_status,
    register_runtime,
    source_recipe,
)

MODULE_OF = RUNTIMES.modules  # runtime name -> the module that registered it (a lazy view)

__all__ = [
    "MODULE_OF",
    "RUNTIMES",
    "Runtime",
    "chain",
    "chain_problem",
    "compose",
    "get_runtime",
    "read_status",
    "register_runtime",
    "source_recipe",
]
