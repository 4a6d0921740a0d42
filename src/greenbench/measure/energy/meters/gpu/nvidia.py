"""NVIDIA GPUs through NVML: the backend (by UUID), the cumulative energy counter (the primary meter),
the power sampler (the cross-check, and the device state during a window), and the ``cuda`` monitor."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from greenbench.measure.energy.meters.base import MEASURED, Reading, Unavailable
from greenbench.measure.energy.monitor import MONITORS, EnergyMonitor

# NVML's nvmlClocksEventReasonGpuIdle (formerly nvmlClocksThrottleReasonGpuIdle): "nothing is running
# on the GPU, clocks are dropping to idle". Not a throttle a window's result should carry.
GPU_IDLE_REASON = 0x1


POWER_FIELDS = {
    # what the sampler integrates, by where the driver gave it
    "instant": "NVML_FI_DEV_POWER_INSTANT (instantaneous)",
    "average": "nvmlDeviceGetPowerUsage (a trailing average: about 1 s on Ampere/Hopper)",
}


def field_value(value) -> float:
    """The number in an ``nvmlFieldValue_t``, read by its ``valueType`` (nvml-py 12/13)."""
    members = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
    return float(getattr(value.value, members.get(int(value.valueType), "uiVal")))


class NvmlBackend:
    """Thin wrapper over pynvml so tests can substitute a fake with the same methods.

    The device is taken by UUID when one is given (``for_torch_device`` passes torch's), never by
    torch's index: torch numbers the devices ``CUDA_VISIBLE_DEVICES`` leaves visible, NVML numbers
    every device on the host, so index 0 in torch can be another GPU in NVML."""

    def __init__(self, index: int = 0, uuid: str | None = None):
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        if uuid:
            self.handle = pynvml.nvmlDeviceGetHandleByUUID(uuid.encode() if isinstance(uuid, str) else uuid)
        else:
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.power_field = ""  # "instant" or "average", set by the first power read

    @classmethod
    def for_torch_device(cls, device_index: int | None = None) -> "NvmlBackend":
        import torch

        index = torch.cuda.current_device() if device_index is None else device_index
        return cls(uuid=torch_device_uuid(index))

    def energy_mj(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def power_mw(self) -> float:
        """Instantaneous power where the driver offers it, else the (averaged) power usage;
        ``power_field`` says which (the first read decides, so one window never mixes them)."""
        n = self.nvml
        if self.power_field in ("", "instant"):
            try:
                value = n.nvmlDeviceGetFieldValues(self.handle, [n.NVML_FI_DEV_POWER_INSTANT])[0]
                if value.nvmlReturn == n.NVML_SUCCESS:
                    self.power_field = "instant"
                    return field_value(value)
            except (AttributeError, n.NVMLError):
                pass
            if self.power_field == "instant":
                raise n.NVMLError(n.NVML_ERROR_UNKNOWN)
        self.power_field = "average"
        return float(n.nvmlDeviceGetPowerUsage(self.handle))

    def state(self) -> dict[str, Any]:
        n, h = self.nvml, self.handle

        def safe(fn, *args):
            try:
                return fn(h, *args)
            except n.NVMLError:
                return None

        reasons = (
            getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None) or n.nvmlDeviceGetCurrentClocksThrottleReasons
        )
        limit = safe(n.nvmlDeviceGetEnforcedPowerLimit)
        return {
            "power_limit_w": None if limit is None else limit / 1000.0,
            "sm_clock_mhz": safe(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_SM),
            "mem_clock_mhz": safe(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_MEM),
            "temperature_c": safe(n.nvmlDeviceGetTemperature, n.NVML_TEMPERATURE_GPU),
            "throttle_reasons": safe(reasons),
        }

    def identity(self) -> dict[str, Any]:
        n, h = self.nvml, self.handle
        as_str = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
        return {
            "device_name": as_str(n.nvmlDeviceGetName(h)),
            "device_uuid": as_str(n.nvmlDeviceGetUUID(h)),
            "driver": as_str(n.nvmlSystemGetDriverVersion()),
        }


def torch_device_uuid(index: int) -> str:
    """NVML's UUID ("GPU-...") of torch's CUDA device ``index``."""
    import torch

    uuid = str(torch.cuda.get_device_properties(index).uuid)
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


class NvmlCounter:
    """NVML's cumulative energy counter (mJ, Volta and newer): the primary GPU meter."""

    source = "nvml_counter"

    def __init__(self, backend, wrap_at: int = 2**64, max_plausible_w: float = 2000.0):
        self.backend, self.wrap_at, self.max_plausible_w = backend, wrap_at, max_plausible_w
        self._start: int | None = None
        self._t0 = 0.0
        self._error = ""

    def begin(self) -> None:
        self._error, self._start = "", None
        self._t0 = time.perf_counter()
        try:
            self._start = self.backend.energy_mj()
        except Exception as exc:  # NotSupported on pre-Volta, or any NVML error
            self._error = f"energy counter unreadable: {type(exc).__name__}: {exc}"

    def end(self) -> Reading:
        elapsed = time.perf_counter() - self._t0
        if self._start is None:
            return Reading.unavailable(self.source, self._error)
        try:
            stop = self.backend.energy_mj()
        except Exception as exc:
            return Reading(
                self.source, MEASURED, None, f"NVML error at window end: {type(exc).__name__}: {exc}", valid=False
            )
        delta = stop - self._start
        wrapped = delta < 0
        if wrapped:
            delta += self.wrap_at
        joules = delta / 1000.0
        if elapsed > 0 and joules / elapsed > self.max_plausible_w:
            return Reading(
                self.source,
                MEASURED,
                joules,
                f"implausible counter delta ({joules / elapsed:.0f} W): counter reset?",
                valid=False,
                extra={"wrapped": wrapped},
            )
        return Reading(self.source, MEASURED, joules, extra={"wrapped": wrapped})

    def _edge(self, max_wait_s: float, poll_s: float) -> tuple[float, int, bool, float]:
        """Poll the counter until its value changes (at most ``max_wait_s``). Returns (t, mJ, changed,
        uncertainty_s): ``t`` is the midpoint between the last read that showed the old value and the
        first that showed the new one (each read's own time being the middle of its call), ``uncertainty_s``
        half that gap. Without a change: the last read, ``changed`` False."""

        def read() -> tuple[float, int]:
            before = time.perf_counter()
            value = self.backend.energy_mj()
            return (before + time.perf_counter()) / 2, value

        t_prev, e_prev = read()
        deadline = t_prev + max_wait_s
        while True:
            time.sleep(poll_s)
            t, e = read()
            if e != e_prev:
                return (t_prev + t) / 2, e, True, (t - t_prev) / 2
            t_prev = t
            if t >= deadline:
                return t, e, False, 0.0

    def aligned_power(self, seconds: float, max_wait_s: float = 0.5, poll_s: float = 0.001) -> Reading:
        """Energy over about ``seconds``, both edges taken where the counter updates.

        NVML's total-energy counter advances in steps (every ~20-100 ms), so (counter at end - counter
        at start) / elapsed over a short idle window can be off by a step (~8 % over 0.5 s). Here the
        counter is polled every ``poll_s`` until it changes (edge a), ``seconds`` pass, and it is polled
        until it changes again (edge b): the energy between two updates over the time between them.
        ``extra``: seconds (t_b - t_a, at least ``seconds``), watts, aligned, wrapped, edge_uncertainty_s.
        An edge where the counter did not change within ``max_wait_s`` is taken unaligned (the last
        read): ``aligned`` False and ``note`` says which. A counter that never advanced is invalid."""
        try:
            t_a, e_a, changed_a, unc_a = self._edge(max_wait_s, poll_s)
        except Exception as exc:  # NotSupported on pre-Volta, or any NVML error
            return Reading.unavailable(self.source, f"energy counter unreadable: {type(exc).__name__}: {exc}")
        time.sleep(max(0.0, seconds - (time.perf_counter() - t_a)))
        try:
            t_b, e_b, changed_b, unc_b = self._edge(max_wait_s, poll_s)
        except Exception as exc:
            return Reading(
                self.source,
                MEASURED,
                None,
                f"NVML error at window end: {type(exc).__name__}: {exc}",
                valid=False,
                extra={"aligned": False},
            )
        elapsed = max(t_b - t_a, 1e-9)
        delta = e_b - e_a
        wrapped = delta < 0
        if wrapped:
            delta += self.wrap_at
        joules = delta / 1000.0
        extra: dict[str, Any] = {
            "seconds": elapsed,
            "aligned": changed_a and changed_b,
            "watts": joules / elapsed,
            "wrapped": wrapped,
            "edge_uncertainty_s": unc_a + unc_b,
        }
        if not extra["aligned"]:
            edges = [name for name, changed in (("start", changed_a), ("end", changed_b)) if not changed]
            extra["note"] = (
                f"energy counter did not change within {max_wait_s:g} s at the {' and '.join(edges)} "
                "edge: read unaligned there (off by up to one counter update)"
            )
        if delta == 0:
            return Reading(
                self.source,
                MEASURED,
                joules,
                f"energy counter did not advance in {elapsed:.3f} s: stuck?",
                valid=False,
                extra=extra,
            )
        if joules / elapsed > self.max_plausible_w:
            return Reading(
                self.source,
                MEASURED,
                joules,
                f"implausible counter delta ({joules / elapsed:.0f} W): counter reset?",
                valid=False,
                extra=extra,
            )
        return Reading(self.source, MEASURED, joules, extra=extra)


def integrate_power(times: list[float], watts: list[float], t_start: float, t_end: float) -> float:
    """Integral of power over [t_start, t_end] as a step function: each reading holds until the next
    one (NVML reports a value until the sensor updates it, so the power between two distinct
    readings is the earlier one, not a ramp). Before the first reading inside the window the last
    reading before it holds (or, lacking one, the first reading)."""
    if not times:
        raise ValueError("no power samples")
    before = [(t, w) for t, w in zip(times, watts) if t <= t_start]
    inside = [(t, w) for t, w in zip(times, watts) if t_start < t < t_end]
    start_w = before[-1][1] if before else (inside[0][1] if inside else watts[0])
    steps = [(t_start, start_w)] + inside
    edges = [t for t, _ in steps[1:]] + [t_end]
    return sum((t1 - t0) * w for (t0, w), t1 in zip(steps, edges))


def dedupe(times: list[float], watts: list[float]) -> tuple[list[float], list[float]]:
    """Drop repeated readings (the sensor updates slower than we poll); keep the first of each run."""
    out_t, out_w = [], []
    for t, w in zip(times, watts):
        if not out_w or w != out_w[-1]:
            out_t.append(t)
            out_w.append(w)
    return out_t, out_w


def summarize_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """Device state over a window, from snapshots taken during it: the median SM and memory clocks
    (what the window mostly ran at; one snapshot caught while clocks ramp does not decide it), the
    highest temperature, the lowest power limit, and every throttle reason seen (OR) except GpuIdle
    (``GPU_IDLE_REASON``: set while nothing runs, so it says nothing about the window's work)."""

    def values(key):
        return [s[key] for s in states if s.get(key) is not None]

    def median(vals):
        return float(np.median(vals))

    out: dict[str, Any] = {"state_samples": len(states)}
    for key, pick in (
        ("sm_clock_mhz", median),
        ("mem_clock_mhz", median),
        ("temperature_c", max),
        ("power_limit_w", min),
    ):
        vals = values(key)
        out[key] = pick(vals) if vals else None
    reasons = values("throttle_reasons")
    seen = int(np.bitwise_or.reduce(np.asarray(reasons, dtype=np.uint64))) if reasons else None
    out["throttle_reasons"] = None if seen is None else seen & ~GPU_IDLE_REASON
    return out


class PowerSampler:
    """A thread polling NVML power at ``hz`` (>= 20); integrated over the window as a cross-check.

    Every ``state_every_s`` it also snapshots the device state (clocks, temperature, throttle
    reasons), so the state a window reports is the state *during* the window; the first snapshot
    waits ``state_delay_s`` into the window, past the instant when clocks are still at idle and the
    GpuIdle reason is set. A window shorter than that has no snapshots (``Window.state_during`` is
    then None and the caller reads the state after the window)."""

    source = "nvml_power_integrated"

    def __init__(self, backend, hz: float = 50.0, state_every_s: float = 0.5, state_delay_s: float = 0.2):
        if hz < 20:
            raise ValueError(f"power sampler rate {hz} Hz is below the 20 Hz minimum")
        if state_delay_s < 0:
            raise ValueError(f"state_delay_s must be >= 0, not {state_delay_s}")
        self.backend, self.period, self.state_every_s = backend, 1.0 / hz, state_every_s
        self.state_delay_s = state_delay_s
        self._t0 = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.times: list[float] = []
        self.watts: list[float] = []
        self.states: list[dict[str, Any]] = []
        self.error = ""

    def _run(self) -> None:
        read_state = getattr(self.backend, "state", None)
        next_state = self._t0 + self.state_delay_s
        while not self._stop.is_set():
            try:
                w = self.backend.power_mw() / 1000.0
            except Exception as exc:
                self.error = f"NVML error while sampling power: {type(exc).__name__}: {exc}"
                return
            now = time.perf_counter()
            self.times.append(now)
            self.watts.append(w)
            if read_state is not None and now >= next_state:
                try:
                    self.states.append(read_state())
                except Exception:  # state is context, never a reason to lose the window
                    pass
                next_state = now + self.state_every_s
            self._stop.wait(self.period)

    def begin(self) -> None:
        self.times, self.watts, self.states, self.error = [], [], [], ""
        self._stop.clear()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="greenbench-power-sampler", daemon=True)
        self._thread.start()

    def end(self) -> Reading:
        t_end = time.perf_counter()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        field = getattr(self.backend, "power_field", "") or "unknown"
        extra: dict[str, Any] = {"power_field": field, "state": summarize_states(self.states)}
        if self.error:
            return Reading(self.source, MEASURED, None, self.error, valid=False, extra=extra)
        if len(self.times) < 2:
            return Reading(
                self.source, MEASURED, None, "fewer than 2 power samples in the window", valid=False, extra=extra
            )
        raw = len(self.times)
        achieved_hz = raw / max(t_end - self._t0, 1e-9)
        times, watts = dedupe(self.times, self.watts)
        joules = integrate_power(times, watts, self._t0, t_end)
        extra.update(
            samples=raw,
            distinct_samples=len(times),
            sampler_hz=achieved_hz,
            mean_power_w=joules / max(t_end - self._t0, 1e-9),
        )
        return Reading(self.source, MEASURED, joules, extra=extra)


@MONITORS.named("cuda")
def nvml_monitor(sampler_hz: float = 50.0, sampler: bool = True, backend=None, **_) -> EnergyMonitor:
    """NVML energy counter (primary) + NVML power sampler (cross-check, and device state during windows)."""
    if backend is None:
        try:
            backend = NvmlBackend.for_torch_device()
        except Exception as exc:  # no pynvml, no driver
            return EnergyMonitor(Unavailable("nvml_counter", f"NVML unavailable: {type(exc).__name__}: {exc}"))
    cross = PowerSampler(backend, sampler_hz) if sampler else None
    return EnergyMonitor(NvmlCounter(backend), cross, state=backend.state, identity=backend.identity())


def no_nvml_reason() -> str | None:
    """Why NVML cannot be read here (so a run can say so before it starts), or None."""
    import importlib.util

    return None if importlib.util.find_spec("pynvml") else "nvidia-ml-py is not installed (pip install greenbench[gpu])"


nvml_monitor.no_meter_reason = no_nvml_reason
