"""Variant registry: one place that knows every recipe. Import families to register them."""

from greenbench.variants.base import DEVICES, REGISTRY, Prepared, Variant, footprint, get, register
from greenbench.variants import adaptive, precision, quantization, sparse_attention  # noqa: F401  (they register)

__all__ = ["DEVICES", "REGISTRY", "Prepared", "Variant", "footprint", "get", "register"]
