"""GPU code paths that can be checked without a GPU: NVML by UUID and by value type, the power
integral, state during the window, graph-unsafe refusal, matmul precision, torchao accounting."""

import sys
import time
import types

import pytest
import torch

from greenbench.data import models
from greenbench.measure.energy.meters.base import Unavailable
from greenbench.measure.energy.meters.gpu.nvidia import (
    NvmlBackend,
    NvmlCounter,
    PowerSampler,
    field_value,
    integrate_power,
)
from greenbench.measure.energy.monitor import EnergyMonitor
from greenbench.measure.energy.cells import Cell
from greenbench.measure.energy.trial import refusal
from greenbench.cells.variants.recipe import Prepared

from test_energy import FakeNvml


def test_power_is_integrated_as_held_steps_not_ramps():
    # 100 W until the sensor says 200 W at t=1: 100 + 200 J over [0, 2] (a ramp would give 250 + 200)
    assert integrate_power([0.0, 1.0], [100.0, 200.0], 0.0, 2.0) == pytest.approx(300.0)
    # the reading before the window holds into it
    assert integrate_power([-0.5, 1.0], [50.0, 150.0], 0.0, 2.0) == pytest.approx(200.0)
    # only readings after the window: the first of them
    assert integrate_power([3.0], [80.0], 0.0, 2.0) == pytest.approx(160.0)


def test_field_values_are_read_by_their_type():
    value = types.SimpleNamespace(valueType=3, value=types.SimpleNamespace(ullVal=123456, uiVal=7))
    assert field_value(value) == 123456.0
    value = types.SimpleNamespace(valueType=0, value=types.SimpleNamespace(dVal=12.5))
    assert field_value(value) == 12.5


class FakePynvml(types.ModuleType):
    NVML_SUCCESS, NVML_ERROR_UNKNOWN, NVML_FI_DEV_POWER_INSTANT = 0, 999, 186

    class NVMLError(Exception):
        pass

    def __init__(self, instant=True):
        super().__init__("pynvml")
        self.instant, self.by_uuid = instant, []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.by_uuid.append(uuid)
        return "handle"

    def nvmlDeviceGetHandleByIndex(self, index):
        raise AssertionError("the NVML handle must come from the UUID, not torch's index")

    def nvmlDeviceGetFieldValues(self, handle, ids):
        ret = self.NVML_SUCCESS if self.instant else 3
        return [types.SimpleNamespace(nvmlReturn=ret, valueType=1, value=types.SimpleNamespace(uiVal=250_000))]

    def nvmlDeviceGetPowerUsage(self, handle):
        return 240_000


@pytest.mark.parametrize("instant,field,watts", [(True, "instant", 250.0), (False, "average", 240.0)])
def test_backend_takes_the_device_by_uuid_and_says_which_power_field(monkeypatch, instant, field, watts):
    fake = FakePynvml(instant)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    backend = NvmlBackend(uuid="GPU-1234")
    assert fake.by_uuid == [b"GPU-1234"]
    assert backend.power_mw() / 1000 == watts and backend.power_field == field


def test_sampler_reads_device_state_during_the_window():
    backend = FakeNvml(watts=200.0)
    backend.power_field = "instant"
    states = iter(range(1000))
    backend.state = lambda: {
        "sm_clock_mhz": 1980 - 10 * next(states),
        "temperature_c": 40,
        "throttle_reasons": 4,
        "mem_clock_mhz": 2619,
        "power_limit_w": 700.0,
    }
    monitor = EnergyMonitor(
        NvmlCounter(backend), PowerSampler(backend, hz=100, state_every_s=0.05), state=backend.state
    )
    monitor.begin_window()
    time.sleep(0.5)  # snapshots from 0.2 s into the window: the idle clocks of its first instant are not its state
    window = monitor.end_window()
    state = window.state_during
    assert state is not None and state["state_samples"] >= 3
    assert state["sm_clock_mhz"] < 1980 and state["throttle_reasons"] == 4  # the median clock seen, reasons OR-ed
    assert window.cross_check.extra["power_field"] == "instant"


def test_graph_unsafe_variants_are_refused_before_capture():
    cell = Cell("adaptive", 1, "fixed", "cuda_graph")
    assert "cannot be captured" in refusal(cell, "cuda", Prepared(None, "cuda", graph_safe=False))
    assert refusal(cell, "cuda", Prepared(None, "cuda")) is None
    assert "fixed padding" in refusal(Cell("fp32", 1, "dynamic", "cuda_graph"), "cuda", Prepared(None, "cuda"))
    assert "CUDA device" in refusal(cell, "cpu", Prepared(None, "cpu"))
    from greenbench.cells.variants.adaptive import AdaptiveScheduler, _Router

    cheap = Prepared(None, "cpu")
    assert _Router(cheap, cheap, None, AdaptiveScheduler(0.0, 0.5), ["a", "b"]).graph_safe is False


def test_matmul_precision_is_reset_and_a_change_is_reported():
    torch.set_float32_matmul_precision("high")  # what torchao <= 0.17 did behind the caller's back
    note = models.reset_matmul_precision()
    assert "was 'high'" in note and torch.get_float32_matmul_precision() == "highest"
    assert models.reset_matmul_precision() == ""


def test_energy_jobs_run_without_deterministic_algorithms():
    import torch._inductor.config as inductor

    models.prepare_runtime(0, 1, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled() and not inductor.deterministic
    models.prepare_runtime(0, 1)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert inductor.deterministic  # an imported inductor follows, as torch's own function makes it


def test_a_job_that_does_not_compile_does_not_import_inductor():
    """A fresh process (no earlier test has imported inductor): seeding a job leaves torch's determinism as
    torch.use_deterministic_algorithms would, without importing inductor (0.9 s of every job)."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from greenbench.data import models\n"
        "models.prepare_runtime(0, 1)\n"
        "assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "models.prepare_runtime(0, 1, deterministic=False)\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "print('torch._inductor' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_torchao_weights_are_counted_by_what_they_store_and_do_not_break_mac_counts(tiny_model_dir):
    tq = pytest.importorskip("torchao.quantization")
    from greenbench.measure.accuracy import compute_counts
    from greenbench.cells.variants import footprint
    from greenbench.cells.variants.quantization import _keep_high_precision

    model = models.load_classifier(str(tiny_model_dir)).to(torch.bfloat16).eval()
    before = footprint(model)["linear_weight_bytes"]
    tq.quantize_(
        model,
        tq.Int8WeightOnlyConfig(),
        filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and not _keep_high_precision(fqn),
    )
    after = footprint(model)["linear_weight_bytes"]
    assert after < 0.75 * before  # int8 data + per-row scales, not the bf16 the tensors report
    counts = compute_counts(Prepared(model, "cpu"), [5, 9, 12])
    assert counts["macs_dense"] > 0 and counts["macs_effective"] == pytest.approx(counts["macs_dense"])


def test_old_torchao_is_refused_with_the_reason(monkeypatch):
    pytest.importorskip("torchao")
    from greenbench.cells.variants import quantization

    monkeypatch.setattr(quantization, "cuda_available", lambda device: None)
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.17.0")
    assert "TF32" in quantization._torchao_required("cuda")
    monkeypatch.setattr("importlib.metadata.version", lambda name: "0.18.0")
    assert quantization._torchao_required("cuda") is None


def test_devices_auto_is_what_the_host_has(monkeypatch):
    from greenbench.config.load import load_config, resolve_devices, validate_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert validate_config(load_config(["config/config.yaml"]))["study"]["devices"] == ["cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_devices("auto") == ["cpu", "cuda"] and resolve_devices(["cuda"]) == ["cuda"]


def test_meters_come_from_a_registry_per_device(monkeypatch):
    from greenbench.measure.energy import monitor as mon

    cuda = EnergyMonitor.for_device("cuda", backend=FakeNvml(), sampler_hz=40)
    assert cuda.primary.source == "nvml_counter" and cuda.cross_check.source == "nvml_power_integrated"
    assert EnergyMonitor.for_device("cuda", backend=FakeNvml(), sampler=False).cross_check is None
    with pytest.raises(ValueError, match="no energy monitor for device 'tpu'"):
        EnergyMonitor.for_device("tpu")
    monkeypatch.setattr(mon, "MONITORS", mon.MONITORS.copy())

    @mon.register_monitor("tpu")
    def tpu_monitor(**_):
        return EnergyMonitor(Unavailable("tpu_counter", "no TPU meter here"))

    window = EnergyMonitor.for_device("tpu")
    window.begin_window()
    reading = window.end_window().primary
    assert reading.label == "unavailable" and reading.reason == "no TPU meter here"
    with pytest.raises(ValueError, match="registered twice"):
        mon.register_monitor("tpu")(tpu_monitor)


def test_a_cell_without_a_working_meter_says_why_in_its_row(tiny_model_dir):
    from greenbench.cells import variants
    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.window import measure_cell

    from test_energy import CFG, toy_sentences

    prepared = variants.get("fp32").prepare(models.load_classifier(str(tiny_model_dir)), "cpu", None, {})
    tokens = models.tokenize_dataset(toy_sentences(8, 1), models.load_tokenizer(str(tiny_model_dir)), 16)
    batches = make_batches(tokens, 4, "dynamic", 16, 0, "cpu")
    monitor = EnergyMonitor(Unavailable("codecarbon", "codecarbon is not installed (pip install greenbench[energy])"))
    row = measure_cell(prepared, Cell("fp32", 4, "dynamic", "eager"), batches, "cpu", CFG, monitor)
    assert row["status"] == "ok" and row["energy_label"] == "unavailable" and row["j_per_inf_gross"] is None
    assert "codecarbon is not installed" in row["reason"] and row["latency_p50_ms"] > 0
