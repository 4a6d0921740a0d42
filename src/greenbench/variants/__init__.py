"""Variant registry: one place that knows every recipe. Import families to register them."""

from greenbench.variants import base as _base
from greenbench.variants.base import (DEVICES, REGISTRY, RUNTIME_SEP, NotApplicable, Prepared, Variant, cell_name, footprint,
                                      params_for, recording_stats, register, split_name)
from greenbench.variants import adaptive, precision, pruning, quantization, sparse_attention, spiking  # noqa: F401  (they register)
from greenbench import runtimes  # noqa: E402  (the runtime registry: torch.compile, ONNX Runtime)


def get(name: str) -> Variant:
    """A registered recipe, or ``<recipe>@<runtime>``: the recipe run by a registered runtime."""
    if RUNTIME_SEP in name:
        recipe, runtime = split_name(name)
        return runtimes.compose(_base.get(recipe), runtime)
    return _base.get(name)


__all__ = ["DEVICES", "REGISTRY", "NotApplicable", "Prepared", "Variant", "cell_name", "footprint", "get", "params_for",
           "recording_stats", "register", "split_name"]
