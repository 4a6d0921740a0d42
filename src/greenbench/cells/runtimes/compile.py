"""torch.compile (inductor): the recipe's own PyTorch model, compiled.

``torch_compile`` compiles with dynamic shapes (one graph serves every batch size and length) and,
on CPU, inductor's weight freezing (constants folded, weights pre-packed for oneDNN: that is where
the CPU speed comes from); ``mode`` (``runtimes.torch_compile.mode``) picks inductor's mode:
``max-autotune-no-cudagraphs`` benchmarks GEMM templates per shape (on CPUs with AMX, its bf16/int8
micro-kernels) at the cost of a longer compile; on CUDA ``runtimes.torch_compile.cuda_mode`` (default
``default``: autotuning there takes minutes). Every compile runs with deterministic algorithms off,
as the trials do, so one set of kernels serves build, evaluation and trials. ``torch_compile_cudagraphs`` is ``mode="reduce-overhead"`` on CUDA:
inductor's kernels replayed from CUDA graphs.

Build compiles on real train batches of several shapes with inductor's on-disk cache pointed into
the artifact, records the compile time and the cache's size, and checks the compiled logits
against eager. Load copies that cache into a per-process directory before compiling again, so a
rerun reuses the kernels instead of regenerating them (inductor writes to its cache; the artifact
itself is never modified).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from greenbench.config.options import Option, Options, register_options
from greenbench.cells.family import Family, register_family
from greenbench.cells.runtimes.runtime import Runtime, agreement, register_runtime
from greenbench.cells.variants.recipe import NotApplicable, Prepared, Variant, cuda_available

CACHE = "inductor-cache"
_PROCESS_CACHE: dict[str, str] = {}


@contextlib.contextmanager
def _inductor_cache(path: Path):
    previous = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = previous


def _process_cache() -> str:
    """One writable inductor cache for this process (every compiled cell's kernels merged into it)."""
    if "dir" not in _PROCESS_CACHE:
        _PROCESS_CACHE["dir"] = tempfile.mkdtemp(prefix="greenbench-inductor-")
        atexit.register(shutil.rmtree, _PROCESS_CACHE["dir"], True)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = _PROCESS_CACHE["dir"]
    return _PROCESS_CACHE["dir"]


@contextlib.contextmanager
def trials_determinism():
    """Deterministic algorithms off, as energy trials run (``models.prepare_runtime(deterministic=False)``).
    Inductor's cache key includes the flag: a build, an evaluation (flag on) and a trial that compiled
    under different settings would each compile afresh; under this one setting the build's kernels
    serve them all."""
    import torch

    was = torch.are_deterministic_algorithms_enabled()
    if was:
        torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        if was:
            torch.use_deterministic_algorithms(True, warn_only=True)


class CompiledPrepared(Prepared):
    """The compiled module behind ``forward``; ``model`` stays the eager module (MACs, footprint).
    Compiled and run with deterministic algorithms off (``trials_determinism``) wherever it is called."""

    compiled: Any = None

    def forward(self, input_ids, attention_mask):
        with self.context(), trials_determinism():
            logits = self.compiled(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits.float()


def compile_mode(options: Mapping[str, Any], device: str, runtime_mode: str | None = None) -> str | None:
    """Inductor's mode for a cell (None: its default): the runtime's own (cudagraphs' reduce-overhead)
    first, else ``cuda_mode`` on CUDA (default ``default``: autotuning there compiles for minutes) or
    ``mode`` on CPU."""
    mode = runtime_mode or (options.get("cuda_mode", "default") if device == "cuda" else options.get("mode"))
    return None if mode in (None, "default") else str(mode)


def _compile(prepared: Prepared, device: str, options: Mapping[str, Any], mode: str | None) -> CompiledPrepared:
    import torch
    import torch._inductor.config as inductor

    options = (GRAPHS if mode else TORCH_COMPILE).resolve(options)
    mode = compile_mode(options, device, mode)
    freezing = bool(options["freezing"]) and device == "cpu"
    inductor.freezing = freezing  # read when a graph is compiled (its first call), process-wide
    torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
    out = CompiledPrepared(
        prepared.model,
        device,
        context=prepared.context,
        graph_safe=False,
        info={"compile_mode": mode or "default", "freezing": freezing},
        caveat=prepared.caveat,
    )
    out.compiled = torch.compile(prepared.model, dynamic=True, mode=mode)
    return out


def _make(mode: str | None):
    def build(
        prepared: Prepared,
        recipe: Variant,
        out: Path,
        device: str,
        options: Mapping[str, Any],
        *,
        realize: bool,
        samples,
    ) -> dict[str, Any]:
        if getattr(prepared, "components", None):
            raise NotApplicable("a variant made of several models is not one module to compile")
        # compiled in a temporary cache (the system's, or the run's scratch: never under results/, whose
        # path may hold spaces the compiler's command line does not quote), then kept in the artifact
        cache = Path(tempfile.mkdtemp(prefix="greenbench-inductor-build-"))
        try:
            report = _build_in(prepared, device, options, samples, cache)
            shutil.copytree(cache, out / CACHE)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        report["cache_bytes"] = sum(p.stat().st_size for p in (out / CACHE).rglob("*") if p.is_file())
        return report

    def _build_in(prepared: Prepared, device: str, options: Mapping[str, Any], samples, cache: Path):
        import torch

        with _inductor_cache(cache):
            torch._dynamo.reset()
            compiled = _compile(prepared, device, options, mode)
            started = time.perf_counter()
            with torch.inference_mode():
                for ids, mask in samples:
                    compiled.forward(ids, mask)
            report = {
                "compile_s": round(time.perf_counter() - started, 3),
                "mode": compiled.info["compile_mode"],
                "freezing": compiled.info["freezing"],
                "shapes": [list(ids.shape) for ids, _ in samples],
            }
            report.update(agreement(prepared, compiled, samples))
            torch._dynamo.reset()
        return report

    def load(
        prepared: Prepared,
        recipe: Variant,
        artifact: Path,
        device: str,
        options: Mapping[str, Any],
        status: Mapping[str, Any],
    ) -> Prepared:
        cache = artifact / CACHE
        target = _process_cache()
        if cache.is_dir():
            shutil.copytree(cache, target, dirs_exist_ok=True)
        return _compile(prepared, device, options, mode)

    return build, load


def _installed(device: str) -> str | None:
    import importlib.util

    if device == "cpu" and importlib.util.find_spec("torch._inductor") is None:
        return "this torch build has no inductor"
    return None


def _refuses(recipe: Variant) -> str | None:
    if not recipe.one_module:
        return "the adaptive router is two models and a Python choice per batch, not one module to compile"
    return None


_default_build, _default_load = _make(None)
register_runtime(
    Runtime(
        "torch_compile",
        ("cpu", "cuda"),
        "torch.compile (inductor, dynamic shapes; CPU: weight freezing)",
        build=_default_build,
        load=_default_load,
        requirements=_installed,
        refuses=_refuses,
        label="torch.compile",
    )
)
_graphs_build, _graphs_load = _make("reduce-overhead")
register_runtime(
    Runtime(
        "torch_compile_cudagraphs",
        ("cuda",),
        "torch.compile mode reduce-overhead (inductor kernels in CUDA graphs)",
        build=_graphs_build,
        load=_graphs_load,
        requirements=cuda_available,
        refuses=_refuses,
        label="compile+graphs",
    )
)
register_family(Family("torch_compile", "torch.compile", "#999933", "p", order=80, group="runtimes"))
register_family(
    Family("torch_compile_cudagraphs", "torch.compile + CUDA graphs", "#44AA99", "*", order=90, group="runtimes")
)

FREEZING = Option(
    True, {"type": "boolean"}, "inductor weight freezing on CPU (constants folded, weights pre-packed for oneDNN)"
)
TORCH_COMPILE = register_options(
    Options(
        "runtimes.torch_compile",
        "torch.compile (runtime `torch_compile`)",
        {
            "freezing": FREEZING,
            "mode": Option(
                "max-autotune-no-cudagraphs",
                {"enum": ["default", "max-autotune-no-cudagraphs"]},
                "inductor's mode on CPU: autotuning benchmarks GEMM templates per shape, compiling longer",
            ),
            "cuda_mode": Option(
                "default",
                {"enum": ["default", "max-autotune-no-cudagraphs"]},
                "inductor's mode on CUDA (autotuning there compiles for minutes, longer than a GPU allocation's "
                "command)",
            ),
        },
        required=False,
    )
)
GRAPHS = register_options(
    Options(
        "runtimes.torch_compile_cudagraphs",
        "torch.compile with CUDA graphs (runtime `torch_compile_cudagraphs`)",
        {"freezing": FREEZING},
        required=False,
    )
)
