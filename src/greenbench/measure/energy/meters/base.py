"""What every meter shares. A meter has ``source``, ``begin()`` and ``end() -> Reading`` and never returns
a silent zero: a value it cannot take comes back labelled ``unavailable`` with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

MEASURED, ESTIMATED, UNAVAILABLE = "measured", "estimated", "unavailable"


@dataclass
class Reading:
    source: str  # nvml_counter | nvml_power_integrated | rapl | codecarbon
    label: str  # measured | estimated | unavailable
    joules: float | None = None
    reason: str = ""  # why unavailable / why invalid
    valid: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def unavailable(cls, source: str, reason: str) -> "Reading":
        return cls(source, UNAVAILABLE, None, reason, valid=True)


class Meter(Protocol):
    """One meter: ``begin()`` starts a window, ``end()`` closes it with a labelled ``Reading``. A counter
    that can be read mid-window also has ``lap()`` (joules since ``begin`` or the last lap); one that
    can read idle power between its own updates has ``aligned_power(seconds) -> Reading``."""

    source: str

    def begin(self) -> None: ...

    def end(self) -> Reading: ...


class Unavailable:
    """The meter a device has when it has none: every window reads ``unavailable`` with ``reason``."""

    def __init__(self, source: str, reason: str):
        self.source, self.reason = source, reason

    def begin(self) -> None:
        pass

    def end(self) -> Reading:
        return Reading(self.source, UNAVAILABLE, None, self.reason)
