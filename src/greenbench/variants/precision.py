"""Floating-point precision variants."""

from __future__ import annotations

from greenbench.variants.base import Prepared, Variant, register


def _fp32(model, device: str) -> Prepared:
    return Prepared(model.float().to(device).eval(), device)


register(Variant("fp32", "precision", ("cpu", "cuda"), "FP32 weights and activations (the baseline)", _fp32))
