"""Runtime registry: what executes a recipe (PyTorch eager, torch.compile, AOTInductor, ONNX Runtime).

``<recipe>@<runtime>`` names a study cell; ``greenbench.cells.variants.get`` composes it on demand.
Each runtime is a module of this package, registered when the package is imported
(``greenbench.core.registry.discover``)."""

from greenbench.cells.runtimes.runtime import DEFINED_IN, RUNTIMES, Runtime, compose, get_runtime, read_status, register_runtime, source_recipe
from greenbench.core.registry import discover

MODULE_OF: dict[str, str] = discover(__name__, __path__, DEFINED_IN, ("runtime",))  # runtime name -> its module

__all__ = ["MODULE_OF", "RUNTIMES", "Runtime", "compose", "get_runtime", "read_status", "register_runtime", "source_recipe"]
