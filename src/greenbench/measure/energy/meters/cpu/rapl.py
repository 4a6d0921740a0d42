"""CPU energy from RAPL's package and DRAM counters (/sys/class/powercap: Intel, and AMD on recent
kernels), and the ``cpu`` monitor: RAPL when readable, else codecarbon's estimate."""

from __future__ import annotations

import glob
import os

from greenbench.measure.energy.meters.base import MEASURED, Reading, Unavailable
from greenbench.measure.energy.meters.cpu.codecarbon import CodecarbonEstimate
from greenbench.measure.energy.monitor import MONITORS, EnergyMonitor

# Since Linux 5.10 (CVE-2020-8694) RAPL's energy counters are readable by root only. Until reboot:
RAPL_GRANT = "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*/*/energy_uj"


class RaplMeter:
    """CPU package (+ DRAM) energy from /sys/class/powercap (Intel RAPL, also AMD on recent kernels)."""

    source = "rapl"

    def __init__(self, root: str = "/sys/class/powercap"):
        self.zones = []
        self.reason = ""
        self.denied = False  # zones exist but this user may not read them (root-only by default)
        for zone in sorted(glob.glob(os.path.join(root, "intel-rapl:*"))):
            name_file = os.path.join(zone, "name")
            try:
                name = open(name_file).read().strip()
                max_range = int(open(os.path.join(zone, "max_energy_range_uj")).read())
                open(os.path.join(zone, "energy_uj")).read()
            except PermissionError as exc:
                self.denied = True
                self.reason = (
                    f"RAPL zone {zone} is not readable by this user ({exc.strerror}; root-only by "
                    f"default since Linux 5.10): grant read access with `{RAPL_GRANT}`"
                )
                continue
            except (OSError, ValueError) as exc:
                self.reason = f"RAPL zone {zone} unreadable: {exc}"
                continue
            if name.startswith("package") or name == "dram":
                self.zones.append((zone, name, max_range))
        if not self.zones and not self.reason:
            self.reason = f"no RAPL zones under {root}"
        self._start: list[int] = []
        self._last: list[int] = []

    def _read(self) -> list[int]:
        return [int(open(os.path.join(z, "energy_uj")).read()) for z, _, _ in self.zones]

    def begin(self) -> None:
        self._start = self._read() if self.zones else []
        self._last = self._start

    def _joules(self, a: list[int], b: list[int]) -> dict[str, float]:
        return {
            f"{name}@{os.path.basename(zone)}": ((y - x) % (max_range + 1)) / 1e6
            for (zone, name, max_range), x, y in zip(self.zones, a, b)
        }

    def lap(self) -> float:
        """Joules since ``begin`` or the previous lap (the counters wrap at their max range)."""
        now = self._read()
        joules, self._last = sum(self._joules(self._last, now).values()), now
        return joules

    def end(self) -> Reading:
        if not self.zones:
            return Reading.unavailable(self.source, self.reason)
        try:
            stop = self._read()
        except OSError as exc:
            return Reading(self.source, MEASURED, None, f"RAPL read failed: {exc}", valid=False)
        parts = self._joules(self._start, stop)
        return Reading(self.source, MEASURED, sum(parts.values()), extra={"zones_j": parts})


@MONITORS.named("cpu")
def cpu_monitor(codecarbon_country: str = "DEU", estimate_interval_s: float = 1.0, **_) -> EnergyMonitor:
    """RAPL package + DRAM (measured) when readable, else codecarbon (estimated); codecarbon's CO2e
    estimate rides along either way."""
    rapl = RaplMeter()
    estimate = CodecarbonEstimate(codecarbon_country, measure_power_secs=estimate_interval_s)
    if rapl.zones:
        return EnergyMonitor(rapl, None, extras=[estimate])
    return EnergyMonitor(estimate, None, extras=[Unavailable("rapl", rapl.reason)])


def rapl_access_note() -> str | None:
    """Where RAPL exists but cannot be read: what to run for measured CPU energy (else None)."""
    rapl = RaplMeter()
    if rapl.zones or not rapl.denied:
        return None
    return f"{rapl.reason}. Until then CPU energy is codecarbon's estimate (labelled estimated), not a measurement"


def no_cpu_meter_reason() -> str | None:
    """Why neither RAPL nor codecarbon can give a CPU energy value here, or None."""
    import importlib.util

    rapl = RaplMeter()
    if rapl.zones:
        return None
    if importlib.util.find_spec("codecarbon") is None:
        return f"{rapl.reason}, and codecarbon is not installed (pip install greenbench[energy])"
    try:
        import codecarbon  # noqa: F401  (importable in name only, e.g. broken)
    except Exception as exc:
        return f"{rapl.reason}, and codecarbon cannot be imported: {type(exc).__name__}: {exc}"
    return None


cpu_monitor.no_meter_reason = no_cpu_meter_reason
