"""What a runtime is, and how it composes with a recipe into a study cell ``<recipe>@<runtime>``.

A recipe (``greenbench.cells.variants``) says what model runs: fp32, int8, pruned heads. A runtime says
what executes it: PyTorch eager (every plain variant name), torch.compile, ONNX Runtime. The two
compose: ``compose(recipe, runtime)`` is a ``Variant`` like any other, so evaluation, the energy
protocol, statistics and figures need no runtime-specific code; a cell's name carries both and the
outputs split it into ``recipe`` and ``runtime`` columns.

A runtime's ``build`` turns the recipe's prepared model into a cached artifact (an exported and
optimised ONNX graph, a compiled-kernel cache) once per (device, model, cell); ``load`` reads it
back at evaluation and measurement time. A combination that cannot run (a custom attention the
exporter does not know, a router with Python control flow) is decided once, at build time, and
written down as ``runtime.json`` with its reason: every later stage records a not-applicable row
with that reason instead of failing or dropping it.

Recipes compose too: ``<structural>+<numeric>@<runtime>`` (``prune_heads25+int8_static@openvino``) starts
from the structural recipe's built model (its own artifact, no second recovery) and lets the runtime
realize the numeric step on it, as it realizes ``int8_static`` from fp32. ``chain_problem`` says why a
chain cannot exist (config validation reports it before any job).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from greenbench.core.registry import Registry
from greenbench.core.names import CHAIN_SEP, chain_parts
from greenbench.cells.variants.recipe import (
    DEVICES,
    EAGER,
    RUNTIME_SEP,
    NotApplicable,
    Prepared,
    Variant,
    cell_name,
    split_name,
)

STATUS_FILE = "runtime.json"

# build(prepared, recipe, out_dir, device, options, realize, samples) -> report (JSON); raise NotApplicable
BuildFn = Callable[..., dict]
# load(prepared, recipe, artifact_dir, device, options, report) -> Prepared
LoadFn = Callable[..., Prepared]


def _always(device: str) -> str | None:
    return None


@dataclass(frozen=True)
class Runtime:
    name: str
    devices: tuple[str, ...]
    description: str
    build: BuildFn
    load: LoadFn
    requirements: Callable[[str], str | None] = _always  # why it cannot run on this host/device, or None
    # why a recipe cannot run under this runtime, decided before any work (None = try it)
    refuses: Callable[[Variant], str | None] = lambda recipe: None
    # recipes the runtime implements itself, from another recipe's model: int8_dynamic under ONNX
    # Runtime is ONNX Runtime's own dynamic quantization of the exported fp32 graph
    realizes: Mapping[str, str] = field(default_factory=dict)
    label: str = ""  # short, appended to a recipe's label in figures ("" = the name)
    # True: ``build`` also takes ``calibration(n) -> batches``, ``n`` train sentences (never dev) one per
    # batch, for static quantization
    calibrates: bool = False


def _check(name: str, runtime: Runtime) -> str | None:
    if RUNTIME_SEP in name or set(runtime.devices) - set(DEVICES):
        return f"bad name or devices {runtime.devices}"
    return None


# runtime name -> Runtime; every module of this package but this one registers its runtime
RUNTIMES: Registry[Runtime] = Registry(
    "runtime", "greenbench.cells.runtimes", support=("runtime",), check=_check, reserved=(EAGER,)
)
register_runtime = RUNTIMES.register
_COMPOSED: dict[str, Variant] = {}


def get_runtime(name: str) -> Runtime:
    return RUNTIMES[name]


def read_status(artifact: str | Path | None) -> dict[str, Any]:
    """The build's verdict for a composed cell: ``{"status": "ok" | "not_applicable", ...}``."""
    if artifact is None:
        raise NotApplicable("no runtime artifact was built for this cell")
    path = Path(artifact) / STATUS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing (rebuild the artifact: snakemake --forcerun build_variant)")
    return json.loads(path.read_text())


def source_recipe(name: str) -> str | None:
    """The recipe whose model a composed cell's build starts from (``int8_dynamic@onnxruntime``:
    fp32, quantized by ONNX Runtime; ``prune_heads25+int8_static@openvino``: prune_heads25), or None for
    a plain (eager) variant."""
    recipe, runtime = split_name(name)
    if runtime == EAGER:
        return None
    return _source_of(recipe, get_runtime(runtime))


def _source_of(recipe: str, runtime: Runtime) -> str:
    return chain_parts(recipe)[0] if CHAIN_SEP in recipe else runtime.realizes.get(recipe, recipe)


STRUCTURAL_FAMILIES = ("pruning",)  # a chain's first step: it changes the architecture or the weights' zeros


def chain_problem(recipe: str, runtime_name: str) -> str | None:
    """Why the chain ``recipe`` (``<structural>+<numeric>``) cannot run under ``runtime_name``, or None."""
    from greenbench.cells.variants.recipe import REGISTRY

    parts = chain_parts(recipe)
    if len(parts) != 2 or not all(parts):
        return (
            f"'{recipe}': a chain is one structural recipe then one numeric recipe, joined by '{CHAIN_SEP}' "
            f"(e.g. prune_heads25{CHAIN_SEP}int8_static@openvino); this one has {len([p for p in parts if p])} step(s)"
        )
    unknown = [p for p in parts if p not in REGISTRY]
    if unknown:
        return f"'{recipe}': unknown variant '{unknown[0]}' (known: {', '.join(sorted(REGISTRY))})"
    first, second = REGISTRY[parts[0]], REGISTRY[parts[1]]
    structural = sorted(n for n in REGISTRY if REGISTRY[n].family in STRUCTURAL_FAMILIES)
    if first.family not in STRUCTURAL_FAMILIES:
        return (
            f"'{recipe}': the first step must be structural ({', '.join(structural)}); '{parts[0]}' is a "
            f"{first.family} recipe{' (two numeric recipes do not compose)' if second.family not in STRUCTURAL_FAMILIES else ''}"
        )
    if second.family in STRUCTURAL_FAMILIES:
        return f"'{recipe}': the second step must be numeric (a precision or quantization recipe), '{parts[1]}' is structural"
    if runtime_name == EAGER:
        return (
            f"'{recipe}': a chain runs under a runtime that realizes its numeric step on the structural recipe's "
            f"model (e.g. '{recipe}@onnxruntime'); PyTorch eager does not"
        )
    if runtime_name not in RUNTIMES:
        return f"'{recipe}@{runtime_name}': unknown runtime '{runtime_name}' (known: {', '.join(sorted(RUNTIMES))})"
    runtime = RUNTIMES[runtime_name]
    if runtime.realizes.get(parts[1]) != "fp32":
        can = sorted(r for r, s in runtime.realizes.items() if s == "fp32")
        return (
            f"'{recipe}@{runtime_name}': {runtime_name} does not realize '{parts[1]}' on another recipe's model "
            f"(it realizes: {', '.join(can) or 'nothing'})"
        )
    why = runtime.refuses(first)
    return f"'{recipe}@{runtime_name}': {why}" if why else None


def chain(name: str) -> Variant:
    """The cell ``<structural>+<numeric>@<runtime>``: the structural recipe's model, the numeric step realized
    on it by the runtime (KeyError with the reason when the chain cannot exist)."""
    from greenbench.cells.variants.recipe import REGISTRY

    recipe, runtime_name = split_name(name)
    why = chain_problem(recipe, runtime_name)
    if why:
        raise KeyError(why)
    first, second = (REGISTRY[p] for p in chain_parts(recipe))
    steps = replace(
        first,
        name=recipe,
        description=f"{first.description}, then {second.description}",
        label=f"{first.label or first.name} + {second.label or second.name}",
        devices=tuple(d for d in first.devices if d in second.devices),
        requirements=lambda device: first.requirements(device) or second.requirements(device),
    )
    return compose(steps, runtime_name)


def compose(recipe: Variant, runtime_name: str) -> Variant:
    """The variant ``<recipe>@<runtime>`` (memoised)."""
    name = cell_name(recipe.name, runtime_name)
    if name in _COMPOSED:
        return _COMPOSED[name]
    if recipe.runtime != EAGER:
        raise KeyError(f"variant '{name}': '{recipe.name}' already names a runtime")
    runtime = get_runtime(runtime_name)
    source_name = _source_of(recipe.name, runtime)

    def source() -> Variant:
        from greenbench.cells.variants.recipe import get

        return get(source_name)

    def requirements(device: str) -> str | None:
        # a step the runtime realizes itself (int8_dynamic@onnxruntime) needs what its source needs, not what
        # the eager recipe of that name needs (torch.ao for int8_dynamic)
        own = source() if source_name != recipe.name else recipe
        return own.requirements(device) or runtime.requirements(device) or runtime.refuses(recipe)

    def base_artifact(artifact: str | Path) -> Path | None:
        # the recipe's own artifact (pruned weights, calibration) sits beside this one
        return Path(artifact).parent / source_name if source().build is not None else None

    def prepare_source(model, device, artifact, params):
        recipe_params = {k: v for k, v in params.items() if k != "runtime"}
        return source().prepare(model, device, base_artifact(artifact), recipe_params)

    def prepare(model, device, artifact, params) -> Prepared:
        status = read_status(artifact)
        if status["status"] != "ok":
            raise NotApplicable(status["reason"])
        prepared = prepare_source(model, device, artifact, params)
        out = runtime.load(prepared, recipe, Path(artifact), device, dict(params.get("runtime") or {}), status)
        out.info = {**prepared.info, **out.info, "runtime": runtime.name, "runtime_build": status.get("report", {})}
        return out

    def build(model_dir, train_tokens, out_dir, device, params, seed, finetune_params) -> dict[str, Any]:
        from greenbench.core import io
        from greenbench.data import models

        models.prepare_runtime(seed)
        report: dict[str, Any]
        with io.atomic_directory(out_dir) as tmp:
            try:
                prepared = prepare_source(models.load_classifier(str(model_dir)), device, out_dir, params)
                samples = sample_batches(train_tokens, str(model_dir), device, seed)
                extra = {}
                if runtime.calibrates:
                    extra["calibration"] = lambda n: calibration_batches(train_tokens, str(model_dir), device, seed, n)
                started = time.perf_counter()
                report = runtime.build(
                    prepared,
                    recipe,
                    Path(tmp),
                    device,
                    dict(params.get("runtime") or {}),
                    realize=source_name != recipe.name,
                    samples=samples,
                    **extra,
                )
                report["build_s"] = round(time.perf_counter() - started, 3)
                report["artifact_bytes"] = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
                status = {"status": "ok", "reason": "", "report": report}
            except NotApplicable as exc:  # the cell cannot exist here: a row with the reason
                status = {"status": "not_applicable", "reason": str(exc), "report": {}}
            except Exception as exc:
                if not cannot_express(exc):
                    raise_build_failed(exc, name, device, runtime.name)
                # the exporter cannot express this recipe's graph: the cell does not exist for it
                status = {
                    "status": "not_applicable",
                    "reason": f"{runtime.name} cannot express {name}: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:300] if str(exc) else ''}",
                    "report": {},
                }
            (Path(tmp) / STATUS_FILE).write_text(
                json.dumps({"cell": name, "recipe": recipe.name, "runtime": runtime.name, **status}, indent=2)
            )
        return {"cell": name, **status}

    composed = replace(
        recipe,
        name=name,
        devices=tuple(d for d in recipe.devices if d in runtime.devices),
        description=f"{recipe.description}, run by {runtime.description}",
        prepare=prepare,
        requirements=requirements,
        build=build,
        recipe=recipe.name,
        runtime=runtime.name,
    )
    _COMPOSED[name] = composed
    return composed


class BuildFailed(RuntimeError):
    """A runtime's build of a cell failed for a reason other than the cell not existing on the device."""


# what exporters raise for a graph they cannot express (an operator with no counterpart in the target
# format): the cell does not exist for that runtime. Anything else (a compiler or toolchain error, a full
# disk, a bug) is a failed build.
_CANNOT_EXPRESS = ("unsupported operator", "is not supported", "not supported by", "unsupported onnx opset")


def cannot_express(exc: BaseException) -> bool:
    """Whether a build's exception says the runtime cannot express the recipe (a row), not that it broke."""
    if isinstance(exc, NotImplementedError) or type(exc).__name__ in ("UnsupportedOperatorError", "Unsupported"):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _CANNOT_EXPRESS)


def raise_build_failed(exc: BaseException, name: str, device: str, runtime: str):
    """Stop the build job: a failed build is this job's error, not a cell quietly missing from the study."""
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    raise BuildFailed(
        f"{name} on {device}: the {runtime} build failed ({type(exc).__name__}: {first}). A cell that cannot "
        "exist on this device is refused with its reason; this one should build: the traceback says what broke."
        + _spaced_install_hint()
    ) from exc


def _spaced_install_hint() -> str:
    """Inductor hands torch's own include and library folders to g++ unquoted: a torch installed under a
    path with a space cannot compile anything."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    where = str(Path(spec.origin).parent) if spec is not None and spec.origin else ""
    if not re.search(r"\s", where):
        return ""
    return (
        f" torch is installed under a path with a space ({where}), which its compiler passes to g++ unquoted: "
        "install the environment under a path without spaces (`make install` does so by itself in such a clone)."
    )


def sample_batches(train_tokens, model_dir: str, device: str, seed: int, n: int = 16) -> list[tuple[Any, Any]]:
    """A few real, padded batches (train sentences, never dev) of different shapes: what an
    exporter traces with and what a build checks its artifact's logits against."""
    from greenbench.data import sst2 as data, models
    from greenbench.core import io
    from greenbench.data.batching import iter_batches

    tokens = data.subset(io.read_parquet(train_tokens), n, seed + 7)
    pad_id = models.load_tokenizer(model_dir).pad_token_id or 0
    out = []
    for size in (1, 4, n):
        for batch in iter_batches(tokens.head(size), size, pad_id):
            out.append((batch.input_ids.to(device), batch.attention_mask.to(device)))
            break
    return out


CALIBRATION_SEED_OFFSET = 11
CALIBRATION_MIN_TOKENS = 10  # sentence-like: SST-2 train mixes short phrases with sentences, dev holds sentences


def calibration_batches(train_tokens, model_dir: str, device: str, seed: int, n: int) -> list[tuple[Any, Any]]:
    """``n`` train sentences (never dev; a seeded draw of those with at least ``CALIBRATION_MIN_TOKENS``
    tokens), one unpadded batch each: what a static quantizer collects activation ranges on."""
    from greenbench.data import sst2 as data, models
    from greenbench.core import io
    from greenbench.data.batching import iter_batches

    train = io.read_parquet(train_tokens)
    pool = train[train["length"] >= CALIBRATION_MIN_TOKENS].reset_index(drop=True)
    tokens = data.subset(pool if len(pool) else train, n, seed + CALIBRATION_SEED_OFFSET)
    pad_id = models.load_tokenizer(model_dir).pad_token_id or 0
    return [(b.input_ids.to(device), b.attention_mask.to(device)) for b in iter_batches(tokens, 1, pad_id)]


def agreement(reference: Prepared, candidate: Prepared, samples) -> dict[str, float]:
    """How far a runtime's logits are from the recipe's own PyTorch logits on the sample batches."""
    import torch

    diffs, same, total = [], 0, 0
    with torch.inference_mode():
        for ids, mask in samples:
            ref, got = reference.forward(ids, mask).float().cpu(), candidate.forward(ids, mask).float().cpu()
            diffs.append(float((ref - got).abs().max()))
            same += int((ref.argmax(-1) == got.argmax(-1)).sum())
            total += len(ids)
    return {"max_abs_logit_diff": max(diffs), "sample_prediction_agreement": same / total}
