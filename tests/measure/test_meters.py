"""NVML meters without a GPU: an energy counter that advances in steps (as NVML's does, every
20-100 ms) read aligned to its updates, and device state summarised from snapshots taken during
a window (median clocks, GpuIdle masked, the window's first instant skipped)."""

import time

import pytest

from greenbench.measure.energy import MEASURED, UNAVAILABLE, EnergyMonitor
from greenbench.measure.energy.meters.base import Reading
from greenbench.measure.energy.meters.gpu.nvidia import GPU_IDLE_REASON, NvmlCounter, PowerSampler, summarize_states


class NVMLError(Exception):
    pass


class SteppedNvml:
    """A constant ``watts`` draw whose energy counter (mJ) advances only every ``period_s``, by the
    energy of that period, like NVML's total-energy counter; power is the true draw.
    ``clock_after``: the SM clock ``state()`` reports from ``clock_after[0]`` seconds on (before it
    the idle clock and the GpuIdle reason, as at a window's first instant). Failure modes: ``frozen``
    (never changes), ``still_s`` (holds its first value that long), ``fail_after`` (calls),
    ``fail_at_s`` (seconds)."""

    def __init__(
        self,
        watts=60.0,
        period_s=0.1,
        start_mj=0,
        wrap_at=2**64,
        frozen=False,
        still_s=0.0,
        fail_after=None,
        fail_at_s=None,
        clock_after=(0.2, 1980),
        idle_clock=345,
    ):
        self.watts, self.period_s, self.start_mj, self.wrap_at = watts, period_s, start_mj, wrap_at
        self.frozen, self.still_s, self.fail_after, self.fail_at_s, self.calls = (
            frozen,
            still_s,
            fail_after,
            fail_at_s,
            0,
        )
        self.clock_after, self.idle_clock = clock_after, idle_clock
        self.power_field = "instant"
        self.t0 = time.perf_counter()

    def energy_mj(self):
        self.calls += 1
        elapsed = time.perf_counter() - self.t0
        if (self.fail_after is not None and self.calls > self.fail_after) or (
            self.fail_at_s is not None and elapsed >= self.fail_at_s
        ):
            raise NVMLError("NVML_ERROR_GPU_IS_LOST")
        if self.frozen or elapsed < self.still_s:
            return self.start_mj
        steps = int(elapsed / self.period_s)
        return int(self.start_mj + steps * self.watts * self.period_s * 1000) % self.wrap_at

    def power_mw(self):
        return self.watts * 1000.0

    def state(self):
        late = time.perf_counter() - self.t0 >= self.clock_after[0]
        return {
            "power_limit_w": 700.0,
            "sm_clock_mhz": self.clock_after[1] if late else self.idle_clock,
            "mem_clock_mhz": 2619 if late else 405,
            "temperature_c": 40,
            "throttle_reasons": 0 if late else GPU_IDLE_REASON,
        }

    def identity(self):
        return {"device_name": "FakeGPU", "device_uuid": "GPU-fake", "driver": "0"}


def _naive_watts(counter: NvmlCounter, seconds: float) -> float:
    t0 = time.perf_counter()
    counter.begin()
    time.sleep(seconds)
    reading = counter.end()
    return reading.joules / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------- aligned power
@pytest.mark.parametrize("period_s", [0.1, 0.07])
def test_aligned_power_is_exact_on_a_stepped_counter(period_s):
    counter = NvmlCounter(SteppedNvml(watts=60.0, period_s=period_s))
    for _ in range(2):
        reading = counter.aligned_power(0.5)
        assert reading.label == MEASURED and reading.valid and reading.extra["aligned"]
        assert "note" not in reading.extra
        seconds = reading.extra["seconds"]
        assert 0.5 <= seconds < 0.5 + period_s + 0.05  # the window ends at the first update after 0.5 s
        assert reading.joules == pytest.approx(60.0 * period_s * round(seconds / period_s))  # whole updates
        assert reading.extra["watts"] == pytest.approx(reading.joules / seconds)
        assert reading.extra["watts"] == pytest.approx(60.0, rel=0.01)


def test_a_naive_window_misses_a_counter_step_that_an_aligned_one_does_not():
    # 0.55 s is not a whole number of 100 ms updates: the naive window counts 5 or 6 of them (+-9 %)
    counter = NvmlCounter(SteppedNvml(watts=60.0, period_s=0.1))
    naive = [abs(_naive_watts(counter, 0.55) / 60.0 - 1) for _ in range(2)]
    aligned = abs(counter.aligned_power(0.55).extra["watts"] / 60.0 - 1)
    assert aligned < 0.01
    assert min(naive) > 0.05 and min(naive) > aligned


def test_a_counter_that_never_changes_falls_back_unaligned_and_says_so():
    counter = NvmlCounter(SteppedNvml(frozen=True))
    reading = counter.aligned_power(0.05, max_wait_s=0.05)
    assert reading.extra["aligned"] is False
    assert "did not change within" in reading.extra["note"] and "start and end" in reading.extra["note"]
    # and a counter that did not advance at all is not a zero-watt measurement
    assert not reading.valid and "did not advance" in reading.reason


def test_one_unaligned_edge_is_named_and_the_value_kept():
    # the counter holds still for 0.3 s (longer than max_wait_s), then updates every 10 ms
    backend = SteppedNvml(watts=60.0, period_s=0.01, still_s=0.3)
    reading = NvmlCounter(backend).aligned_power(0.3, max_wait_s=0.1)
    assert reading.valid and reading.label == MEASURED and reading.extra["aligned"] is False
    assert "at the start edge" in reading.extra["note"]
    assert "end" not in reading.extra["note"].split(" edge")[0]  # the end edge caught an update
    assert reading.joules > 0 and reading.extra["watts"] > 0  # kept: a number, though unaligned at one edge


def test_aligned_power_handles_a_counter_wrap():
    period = 0.02
    backend = SteppedNvml(watts=100.0, period_s=period, start_mj=2**32 - 5_000, wrap_at=2**32)
    reading = NvmlCounter(backend, wrap_at=2**32).aligned_power(0.1)
    assert reading.valid and reading.extra["wrapped"] and reading.extra["aligned"]
    assert reading.extra["watts"] == pytest.approx(100.0, rel=0.05)


def test_aligned_power_errors_are_labelled_not_zero():
    unreadable = NvmlCounter(SteppedNvml(fail_after=0)).aligned_power(0.05)
    assert unreadable.label == UNAVAILABLE and unreadable.joules is None and "GPU_IS_LOST" in unreadable.reason
    lost = NvmlCounter(SteppedNvml(period_s=0.01, fail_at_s=0.08)).aligned_power(0.1)  # after the first edge
    assert lost.label == MEASURED and not lost.valid and lost.joules is None and "window end" in lost.reason
    implausible = NvmlCounter(SteppedNvml(watts=500.0, period_s=0.01), max_plausible_w=100.0).aligned_power(0.05)
    assert not implausible.valid and "implausible" in implausible.reason


# ---------------------------------------------------------------------------- device state during a window
def test_state_summary_takes_median_clocks_and_masks_gpu_idle():
    states = [
        {
            "sm_clock_mhz": 345,
            "mem_clock_mhz": 405,
            "temperature_c": 38,
            "power_limit_w": 700.0,
            "throttle_reasons": GPU_IDLE_REASON,
        },
        {
            "sm_clock_mhz": 1980,
            "mem_clock_mhz": 2619,
            "temperature_c": 45,
            "power_limit_w": 650.0,
            "throttle_reasons": 0x4,
        },
        {
            "sm_clock_mhz": 1755,
            "mem_clock_mhz": 2619,
            "temperature_c": 41,
            "power_limit_w": 700.0,
            "throttle_reasons": 0x0,
        },
        {
            "sm_clock_mhz": None,
            "mem_clock_mhz": None,
            "temperature_c": None,
            "power_limit_w": None,
            "throttle_reasons": None,
        },
    ]
    summary = summarize_states(states)
    assert summary["state_samples"] == 4
    assert summary["sm_clock_mhz"] == 1755 and summary["mem_clock_mhz"] == 2619  # median, not the idle minimum
    assert summary["temperature_c"] == 45 and summary["power_limit_w"] == 650.0
    assert summary["throttle_reasons"] == 0x4  # 0x1 | 0x4 with GpuIdle masked
    assert summarize_states(states[:1])["throttle_reasons"] == 0  # only GpuIdle seen: no reason left
    assert summarize_states([{"sm_clock_mhz": 1000}, {"sm_clock_mhz": 2000}])["sm_clock_mhz"] == 1500
    empty = summarize_states([])
    assert empty["state_samples"] == 0 and empty["sm_clock_mhz"] is None and empty["throttle_reasons"] is None


def test_sampler_skips_the_windows_first_instant():
    backend = SteppedNvml(clock_after=(0.2, 1980))  # idle clocks and GpuIdle for the first 0.2 s
    sampler = PowerSampler(backend, hz=100, state_every_s=0.05)  # state_delay_s=0.2 by default
    backend.t0 = time.perf_counter()
    sampler.begin()
    time.sleep(0.6)
    state = sampler.end().extra["state"]
    assert state["state_samples"] > 0
    assert all(s["sm_clock_mhz"] == 1980 for s in sampler.states)  # no snapshot from the first 0.2 s
    assert state["sm_clock_mhz"] == 1980 and state["mem_clock_mhz"] == 2619 and state["throttle_reasons"] == 0
    # without the delay the first snapshots are the idle ones (the same window, clocks read from t = 0)
    backend.t0 = time.perf_counter()
    eager = PowerSampler(backend, hz=100, state_every_s=0.05, state_delay_s=0.0)
    eager.begin()
    time.sleep(0.3)
    first = eager.states[0]
    eager.end()
    assert first["sm_clock_mhz"] == 345 and first["throttle_reasons"] == GPU_IDLE_REASON


def test_sampler_state_delay_defaults_to_0_2_s_and_short_windows_have_no_state():
    backend = SteppedNvml()
    sampler = PowerSampler(backend, hz=100, state_every_s=0.01)
    assert sampler.state_delay_s == 0.2
    monitor = EnergyMonitor(NvmlCounter(backend), sampler, state=backend.state)
    monitor.begin_window()
    time.sleep(0.1)
    window = monitor.end_window()
    assert window.cross_check.extra["state"]["state_samples"] == 0 and window.state_during is None
    with pytest.raises(ValueError, match="state_delay_s"):
        PowerSampler(backend, state_delay_s=-1)


# ---------------------------------------------------------------------------- EnergyMonitor.idle_power
def test_monitor_idle_power_reads_the_counter_aligned():
    backend = SteppedNvml(watts=60.0, period_s=0.1)
    monitor = EnergyMonitor(NvmlCounter(backend), PowerSampler(backend, hz=50), state=backend.state)
    watts, why, info = monitor.idle_power(0.5, settle_s=0.01)
    assert why == "" and watts == pytest.approx(60.0, rel=0.01)
    assert info["aligned"] is True and 0.5 <= info["seconds"] < 0.65 and info["source"] == "nvml_counter"


def test_monitor_idle_power_says_why_when_the_counter_cannot_give_one():
    watts, why, info = EnergyMonitor(NvmlCounter(SteppedNvml(fail_after=0))).idle_power(0.05)
    assert watts is None and "GPU_IS_LOST" in why and info["aligned"] is False
    watts, why, info = EnergyMonitor(NvmlCounter(SteppedNvml(frozen=True))).idle_power(0.02)
    assert watts is None and "did not advance" in why and "note" in info


class _WindowMeter:
    """A meter without ``aligned_power``: ``watts`` over whatever window it is given (like RAPL)."""

    source = "windowed"

    def __init__(self, watts=None, reason=""):
        self.watts, self.reason = watts, reason

    def begin(self):
        self.t0 = time.perf_counter()

    def end(self):
        if self.watts is None:
            return Reading.unavailable(self.source, self.reason)
        return Reading(self.source, MEASURED, self.watts * (time.perf_counter() - self.t0))


def test_monitor_idle_power_falls_back_to_a_window_without_aligned_power():
    watts, why, info = EnergyMonitor(_WindowMeter(watts=25.0)).idle_power(0.2)
    assert why == "" and watts == pytest.approx(25.0, rel=0.05)
    assert info["aligned"] is False and info["seconds"] >= 0.2 and info["source"] == "windowed"
    watts, why, info = EnergyMonitor(_WindowMeter(reason="no RAPL zones")).idle_power(0.01)
    assert watts is None and why == "no RAPL zones" and info["label"] == UNAVAILABLE and "seconds" in info


# ---------------------------------------------------------------- a meter for a new device, through the registry
TOY_CFG = {
    "window_s": {"cpu": 0.2},
    "min_iterations": 2,
    "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5},
    "idle_s": 0.05,
    "cooldown_max_temp_c": 0,
}


class _FixedJoules:
    """A toy device's meter: every window reads 0.5 J, measured."""

    source = "toy_counter"

    def begin(self):
        pass

    def end(self):
        return Reading(self.source, MEASURED, 0.5)


class _Sleeps:
    """A toy prepared model whose forward takes a millisecond."""

    graph_safe, caveat, info = True, "", {}

    def forward(self, ids, mask):
        time.sleep(0.001)
        return ids


def test_a_meter_registered_for_a_new_device_is_the_one_the_measurement_uses(monkeypatch):
    import torch

    from greenbench.analysis.study_cost import JobWindow
    from greenbench.measure.energy import monitor as mon
    from greenbench.measure.energy.cells import Cell
    from greenbench.measure.energy.window import measure_cell

    monkeypatch.setattr(mon, "MONITORS", mon.MONITORS.copy())  # the toy device does not outlive this test

    @mon.MONITORS.named("toy")
    def toy_monitor(**options):
        return EnergyMonitor(_FixedJoules(), identity={"device_name": "toy device"})

    toy_monitor.no_meter_reason = lambda: "the toy device's meter is a constant"
    assert mon.MONITORS.module_of("toy") == __name__ and "toy" not in mon.MONITORS.modules  # not a package plugin
    assert mon.no_meter_reason("toy") == "the toy device's meter is a constant"
    monitor = EnergyMonitor.for_device("toy")
    monitor.begin_window()
    assert monitor.end_window().primary == Reading("toy_counter", MEASURED, 0.5)
    assert monitor.identity == {"device_name": "toy device"}
    job = JobWindow("toy")  # a whole job's footprint window takes the registered monitor too
    job.begin()
    measured = job.end()
    assert (measured["energy_j"], measured["energy_label"], measured["energy_source"]) == (0.5, MEASURED, "toy_counter")
    batches = [(torch.zeros((4, 8), dtype=torch.long), torch.ones((4, 8), dtype=torch.long))] * 3
    row = measure_cell(_Sleeps(), Cell("fp32", 4, "fixed", "eager"), batches, "cpu", TOY_CFG, monitor)
    assert row["status"] == "ok" and (row["energy_source"], row["energy_label"]) == ("toy_counter", MEASURED)
    assert row["j_per_inf_gross"] == pytest.approx(0.5 / row["inferences"])


def test_an_unknown_device_has_no_monitor_and_the_error_names_the_known_ones():
    from greenbench.measure.energy.monitor import MONITORS, no_meter_reason

    # found by discovery in the meters package's device-class subpackages, each in its vendor's module
    assert dict(MONITORS.modules) == {
        "cpu": "greenbench.measure.energy.meters.cpu.rapl",
        "cuda": "greenbench.measure.energy.meters.gpu.nvidia",
    }
    with pytest.raises(KeyError, match=r"unknown energy monitor 'tpu' \(known: cpu, cuda\)"):
        MONITORS["tpu"]
    with pytest.raises(KeyError, match=r"known: cpu, cuda"):
        no_meter_reason("tpu")
    with pytest.raises(ValueError, match=r"no energy monitor for device 'tpu' \(registered: cpu, cuda\)"):
        EnergyMonitor.for_device("tpu")
