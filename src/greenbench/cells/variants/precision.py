"""Floating-point precision variants: fp32, tf32, native fp16/bf16 weights, fp16 autocast."""

from __future__ import annotations

import contextlib

from greenbench.cells.family import Family, register_family
from greenbench.cells.variants import native
from greenbench.cells.variants.recipe import Prepared, Variant, cuda_available, register


def _fp32(model, device, artifact=None, params=None) -> Prepared:
    return Prepared(model.float().to(device).eval(), device)


@contextlib.contextmanager
def _tf32_matmul():
    import torch

    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _tf32(model, device, artifact=None, params=None) -> Prepared:
    return Prepared(model.float().to(device).eval(), device, context=_tf32_matmul)


def _native(dtype_name: str):
    def prepare(model, device, artifact=None, params=None) -> Prepared:
        import torch

        return Prepared(model.to(device=device, dtype=getattr(torch, dtype_name)).eval(), device)

    return prepare


def _autocast_fp16(model, device, artifact=None, params=None) -> Prepared:
    import torch

    return Prepared(
        model.float().to(device).eval(), device, context=lambda: torch.autocast(device_type="cuda", dtype=torch.float16)
    )


register(
    Variant(
        "fp32",
        "precision",
        ("cpu", "cuda"),
        "FP32 weights and activations (the baseline)",
        _fp32,
        requirements=cuda_available,
        label="FP32",
        order=0,
    )
)
register(
    Variant(
        "tf32",
        "precision",
        ("cuda",),
        "FP32 weights, TF32 tensor-core matmuls",
        _tf32,
        requirements=cuda_available,
        label="TF32",
        order=10,
    )
)
register(
    Variant(
        "fp16",
        "precision",
        ("cuda",),
        "native FP16 weights and activations",
        _native("float16"),
        requirements=cuda_available,
        label="FP16",
        order=30,
    )
)
# bf16 runs on CPUs too: fast where the CPU has bf16 matrix units (AMX, AVX512-BF16), slow elsewhere
register(
    Variant(
        "bf16",
        "precision",
        ("cpu", "cuda"),
        "native BF16 weights and activations",
        native.native_only("bf16", _native("bfloat16")),
        requirements=cuda_available,
        config_blocks=("cpu_kernels",),
        native_cpu=native.BF16,
        label="BF16",
        order=20,
    )
)
register(
    Variant(
        "autocast_fp16",
        "precision",
        ("cuda",),
        "FP32 weights, FP16 autocast",
        _autocast_fp16,
        requirements=cuda_available,
        label="FP16 autocast",
        order=40,
    )
)
register_family(Family("precision", "precision", "#0072B2", "o", order=10, group="precision"))
