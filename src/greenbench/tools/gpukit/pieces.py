"""What a GPU check measures and how long it takes: the pieces of the paper grid, their energy
settings, and the time estimate a lent node's limits are checked against."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any, Mapping


from greenbench.measure.energy.cells import Cell
from greenbench.measure.energy.trial import estimate_trial_seconds
from greenbench.tools.gpukit.kit import REFERENCE_VARIANT, KIT_VARIANTS, RUNTIME_CELLS


@dataclass(frozen=True)
class Piece:
    number: int
    description: str
    cells: tuple[Cell, ...]
    settings: str  # "quick": short windows sized to the quick budget; "config": the config's protocol
    variants: tuple[str, ...] = KIT_VARIANTS
    accuracy: bool = False  # evaluate (and build) every variant of the piece on dev first
    isolated: bool = False  # each trial in a fresh process (compiled kernels and sessions never carry over)
    trials: int = 5  # default trial count (``--trials`` overrides)


def _overhead(cell: Cell) -> Cell:
    return Cell(cell.variant, cell.batch_size, cell.padding, cell.mode, sampler=False)


GROUPS = tuple(
    (b, p, m) for b in (1, 8, 64) for p, m in (("fixed", "eager"), ("dynamic", "eager"), ("fixed", "cuda_graph"))
)


def plan_pieces(variant_names=KIT_VARIANTS) -> list[Piece]:
    """Piece 0, the quick check: every variant at batch 64 (fixed padding), fp32 and fp16 eager and
    CUDA-graph at batch 1, one dynamic-padding cell, the adaptive router's refused graph cell, and the
    harness-overhead repeat at fp32 batch 64 (GPU-bound) and batch 1 (launch-bound), fixed eager; 4
    trials. Pieces 1..9: the paper grid (batch 1/8/64 x fixed-eager, dynamic-eager, fixed-graph) one
    group at a time, every variant with fp32 beside it for pairing. Piece 10: the runtime axis
    (torch.compile, inductor CUDA graphs, ONNX Runtime) beside fp32/fp16 eager, built and evaluated
    first, each trial in its own process."""
    names = list(variant_names)
    quick = [Cell(v, 64, "fixed", "eager") for v in names]
    quick += [Cell(v, 1, "fixed", mode) for v in names if v in ("fp32", "fp16") for mode in ("eager", "cuda_graph")]
    quick += [Cell(v, 1, "fixed", "cuda_graph") for v in names if v == "adaptive"]
    quick += [
        Cell(REFERENCE_VARIANT, 64, "dynamic", "eager"),
        _overhead(Cell(REFERENCE_VARIANT, 64, "fixed", "eager")),
        _overhead(Cell(REFERENCE_VARIANT, 1, "fixed", "eager")),
    ]
    pieces = [Piece(0, "quick check (short windows)", tuple(quick), "quick", accuracy=True, trials=4)]
    for i, (b, p, m) in enumerate(GROUPS, start=1):
        cells = [Cell(v, b, p, m) for v in names]
        pieces.append(Piece(i, f"batch {b}, {p} padding, {m}", tuple(cells + [_overhead(cells[0])]), "config"))
    runtime_names = (REFERENCE_VARIANT, "fp16", *RUNTIME_CELLS)
    cells = [Cell(v, b, "fixed", "eager") for b in (8, 64) for v in runtime_names]
    pieces.append(
        Piece(
            len(pieces),
            "runtimes: torch.compile (+ CUDA graphs) and ONNX Runtime beside eager, batch 8 "
            "and 64, fixed padding; builds and accuracy first",
            tuple(cells + [_overhead(cells[0])]),
            "quick",
            variants=runtime_names,
            accuracy=True,
            isolated=True,
            trials=2,
        )
    )
    return pieces


QUICK_ENERGY = {
    "window_s": {"cpu": 2.0, "cuda": 2.0},
    "idle_s": 0.5,
    "idle_per_trial_s": {"cpu": 5.0, "cuda": 5.0},
    "idle_settle_s": {"cpu": 0.0, "cuda": 1.0},
    "warmup": {"min_iters": 5, "max_s": 1.0, "tolerance": 0.05},
    "interleave": False,
}
TINY_ENERGY = {
    "window_s": {"cpu": 0.1, "cuda": 0.2},
    "idle_s": 0.05,
    "idle_per_trial_s": {"cpu": 0.1, "cuda": 0.2},
    "idle_settle_s": {"cpu": 0.0, "cuda": 0.0},
    "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5},
    "min_iterations": 2,
    "max_inputs": 32,
}


def energy_settings(cfg_energy: Mapping[str, Any], piece: Piece, tiny: bool) -> dict[str, Any]:
    out = dict(cfg_energy)
    if piece.settings == "quick":
        out.update(QUICK_ENERGY)
    if tiny:
        out.update(TINY_ENERGY)
    return out


# What the estimate assumes on one H100 node (16 cores): seconds per step, before the first timing
# comes back from a node (then: replace them with what its log shows).
STARTUP_S = 25.0  # python, torch, CUDA context, the kit's upcast checkpoint
EVAL_S = 4.0  # one variant on the 872 dev sentences, prepare included
BUILD_S = {"adaptive": 20.0, "torch_compile": 45.0, "onnxruntime": 30.0}  # per build, by family or runtime
PROCESS_START_S = 20.0  # a spawned trial process: imports, CUDA context, models prepared
COMPILE_CACHED_S = 12.0  # a compiled cell in a trial process, its kernels from the build's cache


def _build_seconds(name: str) -> float:
    from greenbench.core.names import EAGER, split_name

    recipe, runtime = split_name(name)
    if runtime != EAGER:
        return BUILD_S["torch_compile" if runtime.startswith("torch_compile") else runtime]
    return BUILD_S.get(recipe, 0.0)


def estimate_check_seconds(piece: Piece, energy: Mapping[str, Any], device: str, trials: int) -> dict[str, float]:
    """The piece's wall time by parts (``STARTUP_S`` .. ``COMPILE_CACHED_S``): start-up, builds, the
    accuracy pass, the trials (process starts and cached recompiles included for isolated pieces)."""
    measured = [
        c for c in piece.cells if not (c.mode == "cuda_graph" and (device != "cuda" or c.variant == "adaptive"))
    ]
    per_trial = estimate_trial_seconds(len(measured), energy, device)
    if piece.isolated:
        per_trial += PROCESS_START_S + COMPILE_CACHED_S * sum(1 for v in piece.variants if "@torch_compile" in v)
    parts = {
        "startup_s": STARTUP_S,
        "builds_s": sum(_build_seconds(v) for v in piece.variants) if piece.accuracy or piece.isolated else 0.0,
        "accuracy_s": EVAL_S * len(piece.variants) if piece.accuracy else 0.0,
        "per_trial_s": per_trial,
        "trials": float(trials),
        "trials_s": per_trial * trials,
    }
    parts["total_s"] = parts["startup_s"] + parts["builds_s"] + parts["accuracy_s"] + parts["trials_s"]
    return {k: round(v, 1) for k, v in parts.items()}
