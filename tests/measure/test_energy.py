import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.core import io
from greenbench.data import models
from greenbench.data.sst2 import DATASET_SCHEMA
from greenbench.measure.energy import MEASURED, UNAVAILABLE, EnergyMonitor
from greenbench.measure.energy.cells import plan_cells
from greenbench.measure.energy.meters.cpu.rapl import RaplMeter
from greenbench.measure.energy.meters.gpu.nvidia import NvmlCounter, PowerSampler, dedupe, integrate_power
from greenbench.measure.energy.trial import MEASUREMENT_SCHEMA, run_trial

from conftest import toy_sentences


class NVMLError(Exception):
    pass


class FakeNvml:
    """Counter and power consistent with a constant ``watts`` draw; knobs for failure modes."""

    def __init__(self, watts=100.0, start_mj=0, wrap_at=2**64, unsupported=False, fail_after=None, update_hz=None):
        self.watts, self.start_mj, self.wrap_at = watts, start_mj, wrap_at
        self.unsupported, self.fail_after, self.update_hz = unsupported, fail_after, update_hz
        self.t0, self.calls = time.perf_counter(), 0

    def _tick(self):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise NVMLError("NVML_ERROR_GPU_IS_LOST")

    def energy_mj(self):
        self._tick()
        if self.unsupported:
            raise NVMLError("NVML_ERROR_NOT_SUPPORTED")
        return int(self.start_mj + self.watts * (time.perf_counter() - self.t0) * 1000) % self.wrap_at

    def power_mw(self):
        self._tick()
        return self.watts * 1000.0

    def state(self):
        return {
            "power_limit_w": 700.0,
            "sm_clock_mhz": 1980,
            "mem_clock_mhz": 2619,
            "temperature_c": 40,
            "throttle_reasons": 0,
        }

    def identity(self):
        return {"device_name": "FakeGPU", "device_uuid": "GPU-fake", "driver": "0"}


def fake_monitor(backend, hz=100.0):
    return EnergyMonitor(
        NvmlCounter(backend, wrap_at=backend.wrap_at),
        PowerSampler(backend, hz),
        state=backend.state,
        identity=backend.identity(),
    )


def test_counter_and_integrated_power_agree():
    backend = FakeNvml(watts=250.0)
    monitor = fake_monitor(backend)
    monitor.begin_window()
    time.sleep(0.5)
    window = monitor.end_window()
    assert window.primary.label == MEASURED and window.primary.source == "nvml_counter"
    assert window.primary.joules == pytest.approx(250.0 * window.seconds, rel=0.05)
    assert window.cross_check.joules == pytest.approx(window.primary.joules, rel=0.05)
    assert window.disagreement < 0.05 and window.valid
    assert window.cross_check.extra["sampler_hz"] >= 20


def test_counter_wraparound():
    backend = FakeNvml(watts=100.0, start_mj=2**32 - 5_000, wrap_at=2**32)
    counter = NvmlCounter(backend, wrap_at=2**32)
    counter.begin()
    time.sleep(0.2)
    reading = counter.end()
    assert reading.extra["wrapped"] and reading.valid
    assert reading.joules == pytest.approx(100.0 * 0.2, rel=0.25)


def test_implausible_jump_is_invalid_not_silent():
    backend = FakeNvml(watts=100.0)
    counter = NvmlCounter(backend, max_plausible_w=50.0)
    counter.begin()
    time.sleep(0.05)
    reading = counter.end()
    assert not reading.valid and "implausible" in reading.reason


def test_unsupported_counter_is_labelled_unavailable():
    counter = NvmlCounter(FakeNvml(unsupported=True))
    counter.begin()
    reading = counter.end()
    assert reading.label == UNAVAILABLE and reading.joules is None and "NOT_SUPPORTED" in reading.reason


def test_nvml_error_mid_window_invalidates_with_reason():
    backend = FakeNvml(fail_after=3)
    monitor = fake_monitor(backend, hz=50)
    monitor.begin_window()
    time.sleep(0.2)
    window = monitor.end_window()
    assert not window.valid
    assert any("GPU_IS_LOST" in r for r in window.reasons)


def test_sampler_rejects_low_rate():
    with pytest.raises(ValueError, match="20 Hz"):
        PowerSampler(FakeNvml(), hz=5)


def test_rapl_unreadable_is_labelled(tmp_path):
    meter = RaplMeter(root=str(tmp_path))
    meter.begin()
    reading = meter.end()
    assert reading.label == UNAVAILABLE and "no RAPL zones" in reading.reason


def test_rapl_readable_only_by_root_says_how_to_grant_access(tmp_path, monkeypatch):
    import builtins

    from greenbench.measure.energy.meters.cpu import rapl

    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("1000000\n")
    (zone / "energy_uj").write_text("5\n")
    real_open = builtins.open

    def root_only(path, *args, **kwargs):  # as on Linux >= 5.10 for a non-root user
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", root_only)
    meter = RaplMeter(root=str(tmp_path))
    assert meter.denied and not meter.zones and rapl.RAPL_GRANT in meter.reason
    monkeypatch.setattr(rapl, "RaplMeter", lambda: RaplMeter(root=str(tmp_path)))
    note = rapl.rapl_access_note()
    assert note and "chmod a+r" in note and "estimated" in note
    monkeypatch.setattr(builtins, "open", real_open)
    assert rapl.rapl_access_note() is None  # readable: nothing to say


def _rapl_zone(root, energy_uj: int):
    """A fake powercap package zone with a 1 J counter range, reading ``energy_uj``."""
    zone = root / "intel-rapl:0"
    zone.mkdir()
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text("1000000\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    return zone


def test_rapl_reads_and_wraps(tmp_path):
    zone = _rapl_zone(tmp_path, 999000)
    meter = RaplMeter(root=str(tmp_path))
    meter.begin()
    (zone / "energy_uj").write_text("1000\n")  # wrapped past the max range
    reading = meter.end()
    assert reading.label == MEASURED and reading.joules == pytest.approx(0.002001, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(1, 500), st.floats(0.1, 10), st.integers(2, 50))
def test_integral_of_constant_power(watts, seconds, n):
    times = list(np.linspace(0, seconds, n))
    assert integrate_power(times, [watts] * n, 0.0, seconds) == pytest.approx(watts * seconds)
    t, w = dedupe(times, [watts] * n)
    assert len(t) == 1 and integrate_power(t, w, 0.0, seconds) == pytest.approx(watts * seconds)


@given(st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=50))
def test_dedupe_keeps_every_change(values):
    times = list(range(len(values)))
    t, w = dedupe(times, values)
    assert all(a != b for a, b in zip(w, w[1:]))
    assert w[0] == values[0] and set(w) == set(values)


def test_cell_order_is_seeded_and_differs_between_trials():
    args = (["fp32", "int8_dynamic"], [1, 8], ["dynamic", "fixed"], ["eager"], True, 42)
    a, b, c = plan_cells(*args, trial=0), plan_cells(*args, trial=0), plan_cells(*args, trial=1)
    assert a == b and a != c and sorted(map(str, a)) == sorted(map(str, c))
    assert sum(not cell.sampler for cell in a) == 1 and len(a) == 9


CFG = {
    "batch_sizes": [1, 4],
    "paddings": ["dynamic", "fixed"],
    "modes": ["eager", "cuda_graph"],
    "window_s": {"cpu": 0.1, "cuda": 0.1},
    "min_iterations": 2,
    "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5},
    "idle_s": 0.05,
    "sampler_hz": 50,
    "overhead_check": True,
    "cooldown_max_temp_c": 0,
    "max_inputs": 16,
    "codecarbon_country": "DEU",
}


@pytest.fixture(scope="module")
def dev_tokens(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("energy")
    io.write_parquet(toy_sentences(32, 3), root / "dev.parquet", DATASET_SCHEMA)
    models.tokenize_split(root / "dev.parquet", f"path:{tiny_model_dir}", 16, root / "tok.parquet")
    return root / "tok.parquet"


def _trial(tiny_model_dir, dev_tokens, out, monitor=None):
    return run_trial(
        tiny_model_dir,
        dev_tokens,
        out,
        model_name="tiny",
        device="cpu",
        variant_names=["fp32", "int8_dynamic", "fp16"],
        artifacts={},
        variant_params={},
        trial=0,
        seed=1,
        cfg=CFG,
        max_length=16,
        threads=1,
        monitor=monitor,
    )


def test_cpu_trial_is_labelled_and_complete(tiny_model_dir, dev_tokens, tmp_path):
    df = _trial(tiny_model_dir, dev_tokens, tmp_path / "trial.parquet")
    assert list(df.columns) == MEASUREMENT_SCHEMA.names
    # 3 variants x 2 batches x 2 paddings x 2 modes + 1 overhead cell
    assert len(df) == 25 and df.cell_order.tolist() == list(range(25))
    fp16 = df[df.variant == "fp16"]
    assert (fp16.status == "not_applicable").all() and fp16.reason.str.contains("cuda").all()
    graphs = df[(df["mode"] == "cuda_graph") & (df.variant != "fp16")]
    assert len(graphs) == 2 * 2 * 2
    assert (graphs.status == "not_applicable").all()
    ok = df[df.status == "ok"]
    assert len(ok) == 2 * 2 * 2 + 1
    assert ok.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    # never a silent zero: a number is there exactly when the label says it was measured or estimated
    has_value = ok.j_per_inf_gross.notna()
    assert (has_value == ok.energy_label.isin(["measured", "estimated"])).all()
    assert (ok.j_per_inf_gross[has_value] > 0).all()
    assert (ok.latency_p50_ms > 0).all() and (ok.latency_p99_ms >= ok.latency_p50_ms).all()
    assert (ok.inferences >= ok.iterations).all()
    meta = io.read_metadata(tmp_path / "trial.parquet")
    assert meta["trial"] == 0 and "git_commit" in meta and "config_hash" in meta


def test_meter_failure_marks_cells_invalid_and_trial_goes_on(tiny_model_dir, dev_tokens, tmp_path):
    backend = FakeNvml(fail_after=40)
    df = _trial(tiny_model_dir, dev_tokens, tmp_path / "trial.parquet", monitor=fake_monitor(backend))
    measured = df[df.status.isin(["ok", "invalid"])]
    assert len(measured) == 9  # every applicable cell still has a row
    invalid = measured[measured.status == "invalid"]
    assert len(invalid) >= 1 and invalid.reason.str.contains("GPU_IS_LOST").all() and not invalid.valid.any()
    ok = measured[measured.status == "ok"]
    assert (ok.energy_source == "nvml_counter").all()


class _Scripted:
    """A meter whose windows return scripted joules (idle, busy, idle, ...)."""

    source = "scripted"

    def __init__(self, joules):
        self.joules = list(joules)

    def begin(self):
        pass

    def end(self):
        from greenbench.measure.energy.meters.base import ESTIMATED, Reading

        return Reading(self.source, ESTIMATED, self.joules.pop(0))


def test_negative_net_energy_is_withheld_not_reported(tiny_model_dir, dev_tokens):
    from greenbench.cells import variants
    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.cells import Cell
    from greenbench.measure.energy.window import measure_cell

    prepared = variants.get("fp32").prepare(models.load_classifier(str(tiny_model_dir)), "cpu", None, {})
    batches = make_batches(io.read_parquet(dev_tokens), 4, "dynamic", 16, 0, "cpu")
    # idle windows report far more energy than the busy window: an estimator lagging behind
    monitor = EnergyMonitor(_Scripted([100.0, 0.01, 100.0]))
    row = measure_cell(prepared, Cell("fp32", 4, "dynamic", "eager"), batches, "cpu", CFG, monitor)
    assert row["j_per_inf_gross"] > 0 and row["j_per_inf_net"] is None
    assert "net energy not resolvable" in row["flags"]


def test_dynamic_batches_are_length_bucketed_but_in_seeded_random_order(dev_tokens):
    from greenbench.measure.energy.batches import make_batches

    tokens = io.read_parquet(dev_tokens)
    a = make_batches(tokens, 4, "dynamic", 16, 0, "cpu", seed=3)
    b = make_batches(tokens, 4, "dynamic", 16, 0, "cpu", seed=3)
    c = make_batches(tokens, 4, "dynamic", 16, 0, "cpu", seed=4)
    widths = [int(ids.shape[1]) for ids, _ in a]
    assert widths == [int(ids.shape[1]) for ids, _ in b]
    assert widths != sorted(widths)  # not the sorted order, where a short window sees only short sentences
    assert sorted(widths) == sorted(int(ids.shape[1]) for ids, _ in c)  # the same buckets, another order
    assert sum(int(ids.shape[0]) for ids, _ in a) == len(tokens)


@given(st.integers(0, 1200), st.floats(0.0, 0.999999))
def test_every_prefix_of_the_spread_order_covers_the_range_evenly(n, shift):
    from greenbench.measure.energy.batches import spread_order

    order = spread_order(n, shift)
    assert sorted(order) == list(range(n))
    for k in range(1, n + 1, max(1, n // 50)):  # a prefix of k leaves no gap over ~3 strata of n/k
        taken = sorted(order[:k])
        gaps = [b - a for a, b in zip([-1] + taken, taken + [n])]
        assert max(gaps) <= 3 * n / k + 1


@given(st.floats(1e-4, 1.0), st.floats(0.05, 10.0), st.integers(1, 2000), st.integers(1, 50))
def test_window_iterations_fill_the_window_and_whole_passes(per_iter, window, n_batches, min_iters):
    from greenbench.measure.energy.window import window_iterations

    it = window_iterations(per_iter, window, n_batches, min_iters)
    assert it >= min_iters and it * per_iter >= window * (1 - 1e-9)
    if n_batches * per_iter <= 3 * window:
        assert it % n_batches == 0


@given(
    st.lists(st.tuples(st.floats(1e-4, 1.0), st.integers(1, 128), st.integers(1, 64)), min_size=1, max_size=40),
    st.floats(0.01, 10.0),
)
def test_length_split_conserves_the_window_energy(iters, j_per_inf):
    import json

    from greenbench.analysis.summaries import length_split
    from greenbench.measure.energy.window import length_profile

    lat, lengths, sizes = (list(x) for x in zip(*iters))
    profile = length_profile(lat, lengths, sizes)
    assert sum(b["inferences"] for b in profile.values()) == sum(sizes)
    assert sum(b["seconds"] for b in profile.values()) == pytest.approx(sum(lat))
    row = {"length_profile": json.dumps(profile), "j_per_inf_gross": j_per_inf, "inferences": sum(sizes)}
    parts = length_split(row)
    total = sum(p["j_per_inf"] * p["inferences"] for p in parts)
    assert total == pytest.approx(j_per_inf * sum(sizes))


def test_trial_records_length_profiles_for_dynamic_padding_only(tiny_model_dir, dev_tokens, tmp_path):
    import json

    from greenbench.analysis.summaries import energy_by_length

    df = _trial(tiny_model_dir, dev_tokens, tmp_path / "trial.parquet")
    ok = df[df.status == "ok"]
    dyn, fixed = ok[ok.padding == "dynamic"], ok[ok.padding == "fixed"]
    assert dyn.length_profile.notna().all() and fixed.length_profile.isna().all()
    for _, row in dyn.iterrows():
        assert sum(b["inferences"] for b in json.loads(row.length_profile).values()) == row.inferences
    by_length = energy_by_length(df, n_boot=50, level=0.95, seed=0)
    measured = dyn[dyn.sampler & dyn.j_per_inf_gross.notna()]
    assert set(by_length.variant) == set(measured.variant)
    assert (by_length.ci_low <= by_length.j_per_inf_gross).all() and (
        by_length.j_per_inf_gross <= by_length.ci_high
    ).all()
    shares = by_length.groupby(["variant", "batch_size"]).share_of_inferences.sum()
    assert np.allclose(shares, 1.0)
    from greenbench.report.tables import length_table

    table = length_table(by_length)
    assert len(table) == len(by_length.groupby(["variant", "batch_size"])) and "1-16" in table.columns


def test_trial_log_says_its_estimate_first_and_each_cell(tiny_model_dir, dev_tokens, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="greenbench"):
        _trial(tiny_model_dir, dev_tokens, tmp_path / "trial.parquet")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("greenbench.measure.energy")]
    assert messages[0].startswith("trial 0 on cpu: 25 cells, 9 to measure, about ")
    cells = [m for m in messages if m.startswith("cell ")]
    assert len(cells) == 25 and cells[-1].startswith("cell 25/25 ")
    assert any("not_applicable" in m for m in cells) and any(": ok, p50 " in m for m in cells)


def test_pass_rounding_only_where_batches_differ():
    from greenbench.measure.energy.cells import Cell
    from greenbench.measure.energy.window import pass_batches

    assert pass_batches(Cell("fp32", 8, "dynamic", "eager"), 109) == 109
    assert pass_batches(Cell("fp32", 8, "fixed", "eager"), 109) == 0  # identical batches: any prefix is exact
    assert pass_batches(Cell("fp32", 1, "dynamic", "eager"), 872) == 0  # sized by the sensor


def test_shared_idle_window_takes_the_previous_cells_idle_after(tiny_model_dir, dev_tokens):
    from greenbench.cells import variants
    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.cells import Cell
    from greenbench.measure.energy.window import measure_cell

    prepared = variants.get("fp32").prepare(models.load_classifier(str(tiny_model_dir)), "cpu", None, {})
    batches = make_batches(io.read_parquet(dev_tokens), 4, "dynamic", 16, 0, "cpu")
    cell = Cell("fp32", 4, "dynamic", "eager")
    # own idle windows: idle-before (2 J), busy, idle-after (4 J)
    own = measure_cell(prepared, cell, batches, "cpu", CFG, EnergyMonitor(_Scripted([2.0, 50.0, 4.0])))
    # shared: the scripted meter gives only the busy and idle-after windows; idle-before is handed over
    shared = measure_cell(
        prepared,
        cell,
        batches,
        "cpu",
        CFG,
        EnergyMonitor(_Scripted([50.0, 4.0])),
        idle_before=(2.0 / CFG["idle_s"], ""),
    )
    assert own["idle_power_w"] == pytest.approx(3.0 / CFG["idle_s"], rel=0.2)
    assert shared["idle_power_w"] == pytest.approx(3.0 / CFG["idle_s"], rel=0.2)
    assert shared["_idle_after"][0] == pytest.approx(4.0 / CFG["idle_s"], rel=0.2)


def _trial_rows(values: dict[str, list[float]], batch=8):
    rows = []
    for variant, js in values.items():
        for trial, j in enumerate(js):
            rows.append(
                {
                    "trial": trial,
                    "variant": variant,
                    "batch_size": batch,
                    "padding": "dynamic",
                    "mode": "eager",
                    "status": "ok",
                    "valid": True,
                    "sampler": True,
                    "j_per_inf_gross": j,
                    "throughput_per_s": 100.0,
                }
            )
    import pandas as pd

    return pd.DataFrame(rows)


def test_plan_gives_noisy_cells_more_trials_and_their_baseline_follows():
    from greenbench.measure.energy import plan

    stage1 = _trial_rows({"fp32": [1.0, 1.0, 1.0], "steady": [0.5, 0.5001, 0.4999], "noisy": [0.5, 0.7, 0.4]})
    df = plan.plan_trials(stage1, target=0.03, level=0.95, first_stage=3, max_trials=8, device="cpu", model="m")
    trials = df.drop_duplicates(plan.KEY).set_index("variant").trials
    assert trials["steady"] == 3 and trials["noisy"] == 8 and trials["fp32"] == 8  # the baseline pairs every trial
    assert df[df.variant == "noisy"].capped.all()
    assert [c.variant for c in plan.cells_for_trial(df, 3)] == ["fp32", "noisy"]
    assert plan.cells_for_trial(df, 8) == []
    assert plan.budget_summary(df, 3)["later_cell_trials"] == 10


def test_plan_holds_the_ratio_to_fp32_to_the_target_too():
    from greenbench.measure.energy import plan

    # steady on its own, but its baseline moves: the paired ratio is noisy, so the cell needs the cap
    stage1 = _trial_rows({"fp32": [1.0, 1.3, 0.8], "steady": [0.5, 0.5001, 0.4999]})
    df = plan.plan_trials(stage1, target=0.03, level=0.95, first_stage=3, max_trials=8, device="cpu", model="m")
    steady = df[df.variant == "steady"].set_index("quantity")
    assert set(steady.index) == {"j_per_inf", "ratio_vs_fp32"}
    assert steady.loc["j_per_inf", "needed"] == 3 and steady.loc["ratio_vs_fp32", "capped"]
    assert (steady.trials == 8).all()


def test_later_trials_go_only_to_cells_that_can_change_the_answer_or_the_front():
    import pandas as pd

    from greenbench.measure.energy import plan

    noisy = [0.5, 0.7, 0.4]
    stage1 = pd.concat(
        [
            _trial_rows(
                {
                    "fp32": [1.0, 1.1, 0.9],
                    "cheap": noisy,  # within the bar, the best
                    "close": [0.55, 0.8, 0.42],  # within the bar, its interval overlaps cheap's: a contender
                    "costly": [2.0, 2.02, 1.98],  # within the bar, far above: no later trial
                    "lossy": [0.2, 0.3, 0.15],  # cheapest but loses 5 points: on the front, so measured on
                    "dominated": [0.6, 0.9, 0.45],  # loses 5 points and costs more than lossy: no later trial
                    "unknown": noisy,  # no accuracy: nothing decides against it
                }
            ),
            _trial_rows({"fp32": [2.0, 2.05, 1.95], "costly": [1.0, 1.05, 0.95]}, batch=64),
        ]
    )
    accuracy = {"fp32": 0.88, "cheap": 0.875, "close": 0.872, "costly": 0.88, "lossy": 0.83, "dominated": 0.83}
    chosen = plan.contenders(stage1, accuracy, max_loss_pts=1.0, level=0.95, first_stage=3)
    at8 = {k[0] for k in chosen if k[1] == 8}
    assert at8 == {"cheap", "close", "lossy", "unknown", "fp32"}  # fp32: the most accurate, on the front
    assert {k[0] for k in chosen if k[1] == 64} == {"costly"}  # each batch size its own best
    df = plan.plan_trials(stage1, 0.03, 0.95, 3, 8, contender=chosen)
    cells = df.drop_duplicates(plan.KEY)
    trials = cells[cells.batch_size == 8].set_index("variant").trials
    assert (
        trials["costly"] == 3 and trials["dominated"] == 3 and not cells.set_index("variant").loc["dominated"].contender
    )
    assert trials["cheap"] == 8 and trials["fp32"] == 8  # the baseline follows its contenders' pairs
    assert plan.budget_summary(df, 3)["contenders"] == 6
    at64 = cells[cells.batch_size == 64].set_index("variant")
    assert not at64.loc["fp32"].contender and at64.loc["fp32"].trials == at64.loc["costly"].trials  # its pair
    everything = plan.plan_trials(stage1, 0.03, 0.95, 3, 8)
    assert (
        everything.contender.all()
        and plan.budget_summary(everything, 3)["later_cell_trials"] > plan.budget_summary(df, 3)["later_cell_trials"]
    )


def test_a_later_trial_measures_only_the_planned_cells(tiny_model_dir, dev_tokens, tmp_path):
    from greenbench.measure.energy.cells import Cell

    cells = [Cell("fp32", 4, "dynamic", "eager"), Cell("int8_dynamic", 4, "dynamic", "eager")]
    cfg = {**CFG, "share_idle": {"cpu": True}}
    df = run_trial(
        tiny_model_dir,
        dev_tokens,
        tmp_path / "t.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=["fp32", "int8_dynamic"],
        artifacts={},
        variant_params={},
        trial=3,
        seed=1,
        cfg=cfg,
        max_length=16,
        threads=1,
        cells=cells,
    )
    assert sorted(df.variant) == ["fp32", "int8_dynamic"] and (df.status == "ok").all()
    empty = run_trial(
        tiny_model_dir,
        dev_tokens,
        tmp_path / "e.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=[],
        artifacts={},
        variant_params={},
        trial=4,
        seed=1,
        cfg=cfg,
        max_length=16,
        threads=1,
        cells=[],
    )
    assert empty.empty and io.read_parquet(tmp_path / "e.parquet").empty


def test_budget_estimate_counts_the_cells_a_trial_measures():
    import copy

    from greenbench.config import load as gconfig
    from greenbench.measure.energy.plan import budget_estimate

    cfg = copy.deepcopy(gconfig.load_config(["config/config.yaml"]))
    cfg["study"].update(variants=["fp32", "fp16", "int8_dynamic"], runtimes={}, devices=["cpu"])
    cfg["energy"]["stopping"]["max_trials"] = 8
    cfg["energy"]["trials"] = 5
    b = budget_estimate(gconfig.validate_config(cfg), "cpu")
    assert b["cells_per_trial"] == 2 * 3 * 1  # fp16 is CUDA-only; the default measures dynamic padding on a CPU
    assert (
        b["first_stage"] == 5
        and b["later_trials"] == 3
        and b["first_stage_s"] > 0
        and b["later_max_s"] == pytest.approx(b["first_stage_s"] * 3 / 5)
    )
    cfg["energy"]["paddings"] = ["dynamic", "fixed"]  # one list for every device
    assert budget_estimate(gconfig.validate_config(cfg), "cpu")["cells_per_trial"] == 2 * 3 * 2  # no CUDA graphs


def test_paddings_are_one_list_or_one_list_per_device():
    from greenbench.measure.energy.cells import paddings_for

    assert paddings_for({"paddings": ["fixed"]}, "cuda") == ["fixed"]
    per_device = {"paddings": {"cpu": ["dynamic"], "cuda": ["dynamic", "fixed"]}}
    assert paddings_for(per_device, "cpu") == ["dynamic"] and paddings_for(per_device, "cuda") == ["dynamic", "fixed"]


def test_rapl_laps_add_up_to_the_window_and_wrap(tmp_path):
    zone = _rapl_zone(tmp_path, 990000)
    meter = RaplMeter(root=str(tmp_path))
    meter.begin()
    laps = []
    for value in (995000, 500, 3000):  # the second lap crosses the counter's wrap
        (zone / "energy_uj").write_text(f"{value}\n")
        laps.append(meter.lap())
    assert laps == pytest.approx([0.005, 0.0055010, 0.0025], rel=1e-6)
    assert meter.end().joules == pytest.approx(sum(laps), rel=1e-9)


class _Counter:
    """A counter meter (like RAPL) that counts ``joules_per_lap`` for every lap, and the window's total."""

    source = "counter"

    def __init__(self, joules_per_lap: float):
        self.per_lap, self.total = joules_per_lap, 0.0

    def begin(self):
        self.total = 0.0

    def lap(self):
        self.total += self.per_lap
        return self.per_lap

    def end(self):
        from greenbench.measure.energy.meters.base import MEASURED, Reading

        return Reading(self.source, MEASURED, self.total + 0.5)  # + energy outside any iteration


INTERLEAVED = {**CFG, "interleave": True, "share_idle": {"cpu": True}, "warmup": {**CFG["warmup"], "rounds": 2}}


def _arms(tiny_model_dir, names):
    from greenbench.cells import variants
    from greenbench.measure.energy.cells import Cell

    return [
        (
            Cell(n, 4, "dynamic", "eager"),
            variants.get(n).prepare(models.load_classifier(str(tiny_model_dir)), "cpu", None, {}),
        )
        for n in names
    ]


def test_an_interleaved_window_splits_an_estimate_by_busy_time(tiny_model_dir, dev_tokens):
    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.interleaved import measure_group

    batches = make_batches(io.read_parquet(dev_tokens), 4, "dynamic", 16, 0, "cpu")
    arms = _arms(tiny_model_dir, ["fp32", "int8_dynamic", "fp32"])
    # an estimating meter (no laps): idle-before 1 J, the window 30 J, idle-after 1 J
    rows, idle_after = measure_group(
        arms, {4: batches}, "cpu", INTERLEAVED, EnergyMonitor(_Scripted([1.0, 30.0, 1.0])), np.random.default_rng(0)
    )
    assert [r["status"] for r in rows] == ["ok"] * 3 and idle_after[0] == pytest.approx(1.0 / CFG["idle_s"], rel=0.5)
    assert len({r["iterations"] for r in rows}) == 1 and len({r["inferences"] for r in rows}) == 1  # the same batches
    joules = [r["j_per_inf_gross"] * r["inferences"] for r in rows]
    busy = [r["window_s"] for r in rows]
    assert sum(joules) == pytest.approx(30.0)
    assert joules == pytest.approx([30.0 * b / sum(busy) for b in busy])
    assert all("split by busy time" in r["flags"] and r["energy_label"] == "estimated" for r in rows)
    assert all(r["latency_p95_ms"] >= r["latency_p50_ms"] > 0 for r in rows)


def test_round_repeats_balance_batch_sizes_per_round():
    from greenbench.measure.energy.interleaved import round_repeats

    assert round_repeats({1: 0.01, 8: 0.05, 64: 0.3}) == {1: 30, 8: 6, 64: 1}
    assert round_repeats({4: 0.2}) == {4: 1}
    assert round_repeats({1: 0.45, 8: 0.2}) == {1: 1, 8: 2}  # whichever is slowest runs once


@given(st.lists(st.floats(1e-5, 10.0), min_size=1, max_size=5))
def test_a_faster_batch_size_never_runs_fewer_iterations_per_round(times):
    """The smaller batch (if faster) runs at least as many iterations per round as the larger, the slowest once."""
    from greenbench.measure.energy.interleaved import round_repeats

    per_iter = dict(enumerate(sorted(times)))  # batch-size index by increasing time per iteration
    reps = round_repeats(per_iter)
    ordered = [reps[b] for b in sorted(per_iter)]
    assert ordered == sorted(ordered, reverse=True) and min(ordered) >= 1 and reps[len(times) - 1] == 1


def test_a_cell_whose_one_round_outlasts_the_window_runs_fewer_rounds_spread_over_it(tiny_model_dir, dev_tokens):
    """energy.slow_cell_rounds: a cell taking longer than the window per iteration (torchao int8 without VNNI
    at batch 64: seconds) runs that many rounds instead of min_iterations or more; the others run them all."""
    import time as _time

    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.interleaved import measure_group

    batches = make_batches(io.read_parquet(dev_tokens), 4, "dynamic", 16, 0, "cpu")
    cfg = {**INTERLEAVED, "min_iterations": 5, "slow_cell_rounds": 2, "window_s": {"cpu": 0.4}}
    arms = _arms(tiny_model_dir, ["fp32", "int8_dynamic", "fp32"])
    slow = arms[1][1]
    forward = slow.forward
    slow.forward = lambda ids, mask: (_time.sleep(1.5 * cfg["window_s"]["cpu"]), forward(ids, mask))[1]
    rows, _ = measure_group(arms, {4: batches}, "cpu", cfg, EnergyMonitor(_Counter(0.25)), np.random.default_rng(3))
    fast, capped = rows[0], rows[1]
    assert fast["iterations"] == rows[2]["iterations"] >= 5 and capped["iterations"] == 2
    assert f"2 of {fast['iterations']} rounds" in capped["flags"] and "outlasts" in capped["flags"]
    assert "outlasts" not in fast["flags"]
    # its energy is its own iterations' laps, per inference over the batches it ran
    assert capped["j_per_inf_gross"] * capped["inferences"] == pytest.approx(0.25 * 2)
    assert capped["latency_p50_ms"] >= 1.5 * cfg["window_s"]["cpu"] * 1000
    # without the key, every cell runs every round
    slow.forward = forward
    plain = {k: v for k, v in cfg.items() if k != "slow_cell_rounds"}
    rows, _ = measure_group(arms, {4: batches}, "cpu", plain, EnergyMonitor(_Counter(0.25)), np.random.default_rng(3))
    assert len({r["iterations"] for r in rows}) == 1


def test_cell_rounds_cap_only_cells_slower_than_the_window_and_spread_them():
    from greenbench.measure.energy.interleaved import cell_rounds, spread_rounds

    assert cell_rounds([0.1, 0.5, 2.0], 7, 1.0, 2) == [7, 7, 2]
    assert cell_rounds([3.0], 1, 1.0, 2) == [1]  # never more than the window's rounds
    assert cell_rounds([3.0], 7, 1.0, 0) == [1]  # at least one
    assert spread_rounds(2, 7).tolist() == [0, 6] and spread_rounds(3, 7).tolist() == [0, 3, 6]
    assert spread_rounds(9, 7).tolist() == list(range(7))


@given(st.integers(1, 40), st.integers(1, 40))
def test_a_capped_cell_runs_distinct_rounds_of_the_window(taken, n_rounds):
    from greenbench.measure.energy.interleaved import spread_rounds

    rounds = spread_rounds(taken, n_rounds)
    assert len(set(rounds.tolist())) == len(rounds) == min(taken, n_rounds)
    assert rounds.min() == 0 and rounds.max() == (n_rounds - 1 if taken > 1 else 0)


def test_an_interleaved_window_reads_a_counter_around_each_iteration(tiny_model_dir, dev_tokens):
    from greenbench.measure.energy.batches import make_batches
    from greenbench.measure.energy.interleaved import measure_group

    batches = make_batches(io.read_parquet(dev_tokens), 4, "dynamic", 16, 0, "cpu")
    meter = _Counter(0.25)
    rows, _ = measure_group(
        _arms(tiny_model_dir, ["fp32", "int8_dynamic"]),
        {4: batches},
        "cpu",
        INTERLEAVED,
        EnergyMonitor(meter),
        np.random.default_rng(1),
        idle_before=(2.0, ""),
    )
    for r in rows:  # every iteration's own laps, not a share of the window (its 0.5 J outside iterations)
        assert r["j_per_inf_gross"] * r["inferences"] == pytest.approx(0.25 * r["iterations"])
        assert r["energy_label"] == "measured" and "counter read around each" in r["flags"]


def test_an_interleaved_trial_measures_each_padding_in_one_window(tiny_model_dir, dev_tokens, tmp_path):
    df = run_trial(
        tiny_model_dir,
        dev_tokens,
        tmp_path / "t.parquet",
        model_name="tiny",
        device="cpu",
        variant_names=["fp32", "int8_dynamic", "fp16"],
        artifacts={},
        variant_params={},
        trial=0,
        seed=1,
        cfg=INTERLEAVED,
        max_length=16,
        threads=1,
    )
    assert list(df.columns) == MEASUREMENT_SCHEMA.names and len(df) == 25
    ok = df[df.status == "ok"]
    assert len(ok) == 2 * 2 * 2 + 1 and ok["flags"].str.contains("interleaved").all()
    assert ok.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    # one window per padding, all batch sizes in it: a batch size's cells ran the same iterations on the same
    # batches, every cell of a window the same rounds, each its batch size's repeats per round (how many
    # follows the warm-up timings, under load too: round_repeats has its own test, not this one)
    assert (ok.groupby(["batch_size", "padding"]).iterations.nunique() == 1).all()
    assert (ok.groupby(["batch_size", "padding"]).inferences.nunique() == 1).all()
    assert ok["flags"].str.extract(r"interleaved with (\d+) other")[0].astype(int).max() >= 3
    plan = ok["flags"].str.extract(r"(\d+) rounds of (\d+) iteration").astype(int)
    assert (plan[0] * plan[1] == ok.iterations).all()
    assert (plan[0].groupby(ok.padding).nunique() == 1).all()
    overhead = ok[~ok["sampler"].astype(bool)]
    assert len(overhead) == 1 and overhead["flags"].str.contains("harness-overhead").all()
    assert (df[df["mode"] == "cuda_graph"].status == "not_applicable").all()
