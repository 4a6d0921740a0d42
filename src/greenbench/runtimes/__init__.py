"""Runtime registry: what executes a recipe (PyTorch eager, torch.compile, AOTInductor, ONNX Runtime).

``<recipe>@<runtime>`` names a study cell; ``greenbench.variants.get`` composes it on demand.
Import the modules to register them."""

from greenbench.runtimes.base import RUNTIMES, Runtime, compose, get_runtime, read_status, register_runtime, source_recipe
from greenbench.runtimes import aot, compile, onnx  # noqa: F401,E402  (they register)

__all__ = ["RUNTIMES", "Runtime", "compose", "get_runtime", "read_status", "register_runtime", "source_recipe"]
