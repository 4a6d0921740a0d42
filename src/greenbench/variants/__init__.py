"""Variant registry: one place that knows every recipe. Import families to register them."""

from greenbench.variants.base import DEVICES, REGISTRY, Prepared, Variant, footprint, get, params_for, recording_stats, register
from greenbench.variants import adaptive, precision, pruning, quantization, sparse_attention, spiking  # noqa: F401  (they register)

__all__ = ["DEVICES", "REGISTRY", "Prepared", "Variant", "footprint", "get", "params_for", "recording_stats", "register"]
