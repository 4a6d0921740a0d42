"""AOTInductor: the recipe's model exported once (``torch.export``), compiled ahead of time by
inductor into a self-contained package (kernels + weights), loaded by every later job without
compiling.

Where ``torch_compile`` compiles again in every process (and, with autotuning, may pick different
kernels each time, so its throughput varies from trial to trial), ``aot_inductor`` does the
expensive part once, at build time: inductor's weight freezing (constants folded, weights packed
for the CPU's matrix units) and, with ``max_autotune``, GEMM templates benchmarked per shape (on
CPUs with AMX, its bf16/int8 micro-kernels). The choice is baked into ``model.pt2``: every trial
runs the same kernels. Batch size and sequence length are dynamic dimensions of the export, so one
package serves every batch and length.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.cells.family import Family, register_family
from greenbench.cells.runtimes.runtime import Runtime, agreement, register_runtime
from greenbench.cells.runtimes.compile import _inductor_cache, _installed, _refuses
from greenbench.cells.variants.recipe import NotApplicable, Prepared, Variant

PACKAGE = "model.pt2"
MAX_BATCH = 4096


class AotPrepared(Prepared):
    """The loaded package behind ``forward``; ``model`` stays the eager module (MACs, footprint:
    the package holds the same weights in the same dtype)."""

    runner: Any = None

    def forward(self, input_ids, attention_mask):
        with self.context():
            logits = self.runner(input_ids, attention_mask)
        return logits.float()


def _logits_module(model):
    import torch

    class Logits(torch.nn.Module):  # positional tensors in, logits out: what torch.export traces
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits(model).eval()


def _build(
    prepared: Prepared, recipe: Variant, out: Path, device: str, options: Mapping[str, Any], *, realize: bool, samples
) -> dict[str, Any]:
    import torch

    if getattr(prepared, "components", None):
        raise NotApplicable("a variant made of several models is not one module to export")
    ids, mask = samples[-1]  # the largest sample batch (a batch of 1 would specialise the batch dimension)
    max_length = int(getattr(prepared.model.config, "max_position_embeddings", 512))
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    length = torch.export.Dim("length", min=2, max=max_length)
    options = AOT.resolve(options)
    freezing, autotune = bool(options["freezing"]), bool(options["max_autotune"])
    report: dict[str, Any] = {"freezing": freezing, "max_autotune": autotune}
    started = time.perf_counter()
    with torch.no_grad(), prepared.context():
        exported = torch.export.export(
            _logits_module(prepared.model), (ids, mask), dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length})
        )
    report["export_s"] = round(time.perf_counter() - started, 3)
    scratch = Path(tempfile.mkdtemp(prefix="greenbench-aoti-"))
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        # builds run with deterministic algorithms on (the recipe's own determinism), and inductor then
        # skips autotuning: off for the compile only. The kernels it picks by timing are baked into the
        # package, so every later job runs the same ones (the choice itself depends on the machine).
        torch.use_deterministic_algorithms(False)
        started = time.perf_counter()
        with _inductor_cache(scratch):
            torch._inductor.aoti_compile_and_package(
                exported,
                package_path=str(out / PACKAGE),
                inductor_configs={"freezing": freezing, "max_autotune": autotune},
            )
        report["compile_s"] = round(time.perf_counter() - started, 3)
    finally:
        torch.use_deterministic_algorithms(deterministic)
        shutil.rmtree(scratch, ignore_errors=True)
    report.update(agreement(prepared, _load_package(prepared, out / PACKAGE, device), samples))
    return report


def _load_package(prepared: Prepared, path: Path, device: str) -> AotPrepared:
    import torch

    out = AotPrepared(prepared.model, device, context=prepared.context, graph_safe=False, caveat=prepared.caveat)
    out.runner = torch._inductor.aoti_load_package(str(path))
    return out


def _load(
    prepared: Prepared,
    recipe: Variant,
    artifact: Path,
    device: str,
    options: Mapping[str, Any],
    status: Mapping[str, Any],
) -> Prepared:
    out = _load_package(prepared, artifact / PACKAGE, device)
    report = status.get("report", {})
    out.info = {"freezing": report.get("freezing"), "max_autotune": report.get("max_autotune")}
    return out


register_runtime(
    Runtime(
        "aot_inductor",
        ("cpu", "cuda"),
        "AOTInductor (torch.export + inductor compiled ahead of time into one package; weights frozen, "
        "GEMMs autotuned once at build)",
        build=_build,
        load=_load,
        requirements=_installed,
        refuses=_refuses,
        label="AOTInductor",
    )
)
register_family(Family("aot_inductor", "AOTInductor", "#882255", "h", order=100, group="runtimes"))

AOT = register_options(
    Options(
        "runtimes.aot_inductor",
        "torch.export + AOTInductor: one package per cell",
        {
            "freezing": Option(
                True,
                {"type": "boolean"},
                "weights frozen into the package (constant folding, weights packed for the matrix units)",
            ),
            "max_autotune": Option(
                False,
                {"type": "boolean"},
                "GEMM templates benchmarked once at build; every trial runs the "
                "chosen kernels (AMX hosts gain; on a CPU without AMX it doubles the build for little)",
            ),
        },
        required=False,
    )
)
