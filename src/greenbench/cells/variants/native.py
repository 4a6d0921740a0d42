"""Recipes a CPU can only emulate: bf16 without AVX512-BF16 or AMX, torchao's int8 matmuls without
AVX512-VNNI or AMX. Emulated, they cost several times fp32's time and energy per inference and answer
nothing a reader of that host needs, so the laptop study skips them there (``variants.cpu_kernels``).
"""

from __future__ import annotations

from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options

BF16 = ("amx", "avx512_bf16")  # bf16 matrix instructions
INT8 = ("amx", "avx512_vnni")  # int8 dot-product instructions
NAMES = {"amx": "AMX", "avx512_bf16": "AVX512-BF16", "avx512_vnni": "AVX512-VNNI", "avx2": "AVX2"}

CPU_KERNELS = register_options(
    Options(
        "variants.cpu_kernels",
        "recipes that need CPU features for native kernels (`bf16`: AVX512-BF16 or AMX; `int8_dynamic_ao`: "
        "AVX512-VNNI or AMX), alone or run by a runtime",
        {
            "emulated": Option(
                "skip",
                {"enum": ["skip", "measure"]},
                "on an x86 CPU without those features: `skip` records the recipe's cells as not applicable with "
                "the reason (no build, evaluation or energy trials); `measure` runs them emulated (several times "
                "fp32's time and energy per inference)",
            )
        },
    )
)


def emulation(recipe, device: str, params: Mapping[str, Any], isa: Mapping[str, Any] | None = None) -> str | None:
    """Why ``recipe`` (a ``Variant``) is skipped here: a CPU that lacks every feature in its ``native_cpu``
    while ``cpu_kernels.emulated`` is ``skip``; else None (also on a non-x86 CPU or one whose flags are
    unknown: never guessed). ``isa``: ``greenbench.core.host.cpu_isa()`` (read when None)."""
    native_cpu = tuple(recipe.native_cpu)
    if device != "cpu" or not native_cpu:
        return None
    if CPU_KERNELS.resolve(params.get("cpu_kernels"))["emulated"] != "skip":
        return None
    from greenbench.core import host

    isa = host.cpu_isa() if isa is None else isa
    if isa.get("cpu_vendor") not in ("intel", "amd") or any(isa.get(f) not in (True, False) for f in native_cpu):
        return None
    if any(isa.get(f) is True for f in native_cpu):
        return None
    wanted = " or ".join(NAMES.get(f, f) for f in native_cpu)
    return (
        f"this CPU has no native kernels for {recipe.recipe_name} (needs {wanted}); emulated, it costs many times "
        "fp32's time and energy, so the study skips it (variants.cpu_kernels.emulated: measure runs it)"
    )


def native_only(name: str, prepare):
    """``prepare`` of the recipe ``name`` refusing (``NotApplicable``) where ``emulation`` says so: every
    caller (evaluation, energy trials, a runtime's build of the cell) then records the reason instead."""

    def refusing(model, device, artifact=None, params=None):
        from greenbench.cells.variants.recipe import NotApplicable, get

        reason = emulation(get(name), device, params or {})
        if reason:
            raise NotApplicable(reason)
        return prepare(model, device, artifact, params)

    return refusing
