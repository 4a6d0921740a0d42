"""Which devices a study runs on: ``study.devices: auto`` resolved to what this host has."""

from __future__ import annotations


def detected_devices() -> list[str]:
    """cpu, plus cuda when torch sees a GPU."""
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except Exception:
        has_cuda = False
    return ["cpu", "cuda"] if has_cuda else ["cpu"]


def resolve_devices(devices: str | list[str]) -> list[str]:
    """``auto`` -> the devices present (``detected_devices``); a list stays as it is."""
    return detected_devices() if devices == "auto" else list(devices)
