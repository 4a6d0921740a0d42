"""Variant registry: one place that knows every recipe. Import families to register them."""

from greenbench.variants.base import DEVICES, REGISTRY, Prepared, Variant, get, register
from greenbench.variants import precision  # noqa: F401  (registers)

__all__ = ["DEVICES", "REGISTRY", "Prepared", "Variant", "get", "register"]
