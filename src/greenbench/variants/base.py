"""What a variant is: a named, declarative recipe applied to the baseline at load time."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

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

    def forward(self, input_ids, attention_mask):
        with self.context():
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits.float()


@dataclass(frozen=True)
class Variant:
    name: str
    family: str
    devices: tuple[str, ...]
    description: str
    prepare: Callable[[Any, str], Prepared]
    requirements: Callable[[str], str | None] = lambda device: None  # reason it cannot run, or None

    def applicability(self, device: str) -> str | None:
        """``None`` when this variant runs on ``device``, else the reason it does not."""
        if device not in self.devices:
            return f"variant '{self.name}' applies to {', '.join(self.devices)} only"
        return self.requirements(device)


REGISTRY: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    if variant.name in REGISTRY:
        raise ValueError(f"variant '{variant.name}' registered twice")
    unknown = set(variant.devices) - set(DEVICES)
    if unknown:
        raise ValueError(f"variant '{variant.name}': unknown devices {sorted(unknown)}")
    REGISTRY[variant.name] = variant
    return variant


def get(name: str) -> Variant:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown variant '{name}' (known: {', '.join(sorted(REGISTRY))})") from None
