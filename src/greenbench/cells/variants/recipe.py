"""What a variant is: a named, declarative recipe applied to the baseline at load time."""

from __future__ import annotations

import contextlib
import io as _io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping

from greenbench.core.registry import Registry

DEVICES = ("cpu", "cuda")


@dataclass
class Prepared:
    """A model ready for inference on one device, plus how to call it.

    ``forward(input_ids, attention_mask) -> logits`` (float32). ``info`` carries per-variant
    facts that end up in the outputs (e.g. the adaptive router's tier counts).
    """

    model: Any
    device: str
    context: Callable[[], ContextManager] = contextlib.nullcontext
    info: dict[str, Any] = field(default_factory=dict)
    last_routes: Any = None  # routers: the tier (0 cheap, 1 precise) of each row of the last forward
    # False when ``forward`` cannot be captured in a CUDA graph (data-dependent control flow, host
    # syncs): graph cells of such a variant are refused as not applicable instead of failing mid-capture
    graph_safe: bool = True
    caveat: str = ""  # what a reader of its energy numbers must know (e.g. which kernel really runs)
    # what the variant keeps resident when it is not a torch module (an ONNX graph): size_bytes,
    # parameters, linear_weight_bytes; None = counted from the torch modules (``footprint``)
    resident: dict[str, int] | None = None

    def forward(self, input_ids, attention_mask):
        with self.context():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits.float()


# prepare(model, device, artifact_dir or None, params) -> Prepared
PrepareFn = Callable[[Any, str, "Path | None", Mapping[str, Any]], Prepared]


def _no_requirement(device: str) -> str | None:
    return None


class NotApplicable(Exception):
    """Raised by ``prepare`` when a combination turns out not to run here (an export that failed at
    build time): callers record a not-applicable row with this reason instead of failing."""


# a study cell's name: ``<recipe>`` (eager) or ``<recipe>@<runtime>`` (greenbench.core.names)
from greenbench.core.names import CHAIN_SEP, EAGER, RUNTIME_SEP, cell_name, split_name  # noqa: E402,F401


@dataclass(frozen=True)
class Variant:
    """A recipe. ``build`` (optional) makes an artifact once per model (calibration, pruned
    weights) in ``results/models/{model}/{variant}/``; ``prepare`` runs at load time."""

    name: str
    family: str
    devices: tuple[str, ...]
    description: str
    prepare: PrepareFn
    requirements: Callable[[str], str | None] = _no_requirement  # why it cannot run here, or None
    # build(model_dir, train_tokens, out_dir, device, params, seed, finetune_params) -> report
    build: Callable[..., Any] | None = None
    config_blocks: tuple[str, ...] = ()  # blocks under `variants` the recipe reads (checked before any job)
    finetune_keys: tuple[str, ...] = ()  # keys of the top-level `finetune` block its build reads
    recipe: str = ""  # the recipe a runtime runs (composed names); "" = this variant's own name
    runtime: str = EAGER  # execution runtime (greenbench.cells.runtimes); eager = PyTorch as written
    label: str = ""  # in figures and tables ("" = the name)
    # False: several models and a Python choice per batch (the adaptive router), not one module that a
    # runtime could compile or export as one graph (those runtimes refuse it before any work)
    one_module: bool = True
    order: int = 1000  # place within its family in figures (lower first)
    # CPU features (any one suffices) that give this recipe native kernels; on an x86 CPU with none of them
    # its prepare refuses it unless `variants.cpu_kernels.emulated` is `measure` (greenbench.cells.variants.native).
    # Empty: native everywhere.
    native_cpu: tuple[str, ...] = ()

    @property
    def recipe_name(self) -> str:
        return self.recipe or self.name

    def applicability(self, device: str) -> str | None:
        """``None`` when this variant runs on ``device``, else the reason it does not."""
        if device not in self.devices:
            return f"variant '{self.name}' applies to {', '.join(self.devices)} only"
        return self.requirements(device)


def _check(name: str, variant: Variant) -> str | None:
    unknown = set(variant.devices) - set(DEVICES)
    return f"unknown devices {sorted(unknown)}" if unknown else None


# recipe name -> Variant; every module of this package that is not shared code registers its recipes
REGISTRY: Registry[Variant] = Registry(
    "variant",
    "greenbench.cells.variants",
    support=("recipe", "encoder", "trained", "native"),
    helpers=("greenbench.cells.variants.trained",),
    check=_check,
)
register = REGISTRY.register


def get(name: str) -> Variant:
    """A registered recipe (``greenbench.cells.variants.get`` also composes ``<recipe>@<runtime>``)."""
    return REGISTRY[name]


_RECORDING = {"on": False}


@contextlib.contextmanager
def recording_stats():
    """Inside, kernels that keep statistics (spiking firing rates, kept attention) record them.
    Off by default so measured forwards carry no bookkeeping (and CUDA graphs see no syncs)."""
    previous = _RECORDING["on"]
    _RECORDING["on"] = True
    try:
        yield
    finally:
        _RECORDING["on"] = previous


def is_recording() -> bool:
    return _RECORDING["on"]


SHARED_BLOCKS = ("recovery", "pruning", "cpu_kernels")  # config blocks under `variants` that several recipes read


def params_for(variants_config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The parameters a recipe sees: its own block (``variants.<name>``) plus the shared blocks its
    recipe declares (``Variant.config_blocks``), and nothing else, so a change to a shared block
    reruns only the variants that read it."""
    name = split_name(name)[0].split(CHAIN_SEP)[
        0
    ]  # a runtime runs the recipe (a chain: its first step) with its parameters
    declared = REGISTRY[name].config_blocks if name in REGISTRY else SHARED_BLOCKS
    params = {key: dict(variants_config[key]) for key in SHARED_BLOCKS if key in variants_config and key in declared}
    for key, value in (variants_config.get(name) or {}).items():
        if key in SHARED_BLOCKS and isinstance(value, Mapping):  # per-variant override of a shared block
            params[key] = {**params.get(key, {}), **value}
        else:
            params[key] = value
    return params


def cuda_available(device: str) -> str | None:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device available on this host"
    return None


def _tensors(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def is_packed(tensor) -> bool:
    """A tensor subclass that stores its data in inner tensors (torchao's quantized weights): its
    reported dtype and ``element_size`` are those of the values it stands for, not of its storage."""
    return hasattr(type(tensor), "__tensor_flatten__")


def storage_bytes(tensor) -> int:
    """Bytes a tensor really holds: the sum over the inner tensors of a packed subclass (int4 data,
    scales, zero points), ``numel * element_size`` for a plain one."""
    if is_packed(tensor):
        names, _ = tensor.__tensor_flatten__()
        return sum(storage_bytes(getattr(tensor, name)) for name in names)
    return int(tensor.numel() * tensor.element_size())


def footprint(model) -> dict[str, int]:
    """Serialized size, stored parameter count and bytes held by linear-layer weights.

    Works for quantized modules too: torch.ao's packed weights live in the state dict, not in
    ``parameters()``, and torchao's packed tensors are counted by what they store.
    """
    import torch

    buffer = _io.BytesIO()
    state = model.state_dict()
    torch.save(state, buffer)
    params = sum(t.numel() for v in state.values() for t in _tensors(v))
    linear_bytes = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            linear_bytes += storage_bytes(module.weight)
        elif hasattr(module, "weight") and callable(getattr(module, "weight")) and "Linear" in type(module).__name__:
            weight = module.weight()  # quantized dynamic Linear exposes weight() -> qtensor
            linear_bytes += weight.numel() * weight.element_size()
    return {
        "size_bytes": buffer.getbuffer().nbytes,
        "parameters": int(params),
        "linear_weight_bytes": int(linear_bytes),
    }
