"""The per-job footprint (issue 19): one labelled row per compute job, priced and summed by stage."""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenbench.analysis import study_cost as footprint
from greenbench.core import io
from greenbench.measure.energy.meters.base import Reading, Unavailable
from greenbench.measure.energy.monitor import EnergyMonitor
from greenbench.pipeline.stages import Output


class FixedMeter:
    source = "fake"

    def __init__(self, joules, label="measured", valid=True):
        self.joules, self.label, self.valid = joules, label, valid

    def begin(self):
        pass

    def end(self):
        return Reading(
            self.source,
            self.label,
            self.joules,
            valid=self.valid,
            reason="" if self.valid else "counter went backwards",
        )


class Broken:
    source = "broken"

    def begin(self):
        raise RuntimeError("meter fell over")


def _smk(tmp_path, footprint_out=True, device=None):
    named = {"footprint": str(tmp_path / "fp.parquet")} if footprint_out else {}
    wildcards = SimpleNamespace(device=device) if device else SimpleNamespace()
    return SimpleNamespace(
        output=Output([str(tmp_path / "out.parquet")], **named),
        log=[str(tmp_path / "job.log")],
        wildcards=wildcards,
        threads=2,
    )


def test_a_job_leaves_one_labelled_row_with_its_time_and_energy(tmp_path):
    smk = _smk(tmp_path, device="cpu")
    with footprint.tracked(smk, "evaluate", footprint.JobWindow("cpu", EnergyMonitor(FixedMeter(12.5)))):
        sum(i * i for i in range(200_000))
    row = io.read_parquet(tmp_path / "fp.parquet").iloc[0]
    assert (row.job, row.stage, row.target, row.device) == ("evaluate", "evaluate", smk.output[0], "cpu")
    assert row.energy_j == 12.5 and row.energy_label == "measured" and row.energy_source == "fake"
    assert row.wall_s > 0 and row.cpu_s > 0 and row.threads == 2 and row.energy_reason == ""
    assert "evaluate:" in (tmp_path / "job.log").read_text()


@pytest.mark.parametrize(
    "monitor, words",
    [
        (EnergyMonitor(Unavailable("rapl", "no RAPL zones under /sys")), "no RAPL zones"),
        (EnergyMonitor(FixedMeter(3.0, valid=False)), "counter went backwards"),
        (EnergyMonitor(FixedMeter(None, label="estimated")), "returned no value"),
        (EnergyMonitor(Broken()), "meter fell over"),
    ],
)
def test_a_meter_that_cannot_measure_makes_the_row_unavailable_with_its_reason_never_zero(tmp_path, monitor, words):
    with footprint.tracked(_smk(tmp_path), "tokenize", footprint.JobWindow("cpu", monitor)):
        pass
    row = io.read_parquet(tmp_path / "fp.parquet").iloc[0]
    assert row.energy_label == "unavailable" and math.isnan(row.energy_j) and words in row.energy_reason


def test_a_failed_job_leaves_no_row_and_a_job_without_a_footprint_output_is_only_logged(tmp_path):
    with pytest.raises(ValueError):
        with footprint.tracked(
            _smk(tmp_path), "build_variant", footprint.JobWindow("cpu", EnergyMonitor(FixedMeter(1.0)))
        ):
            raise ValueError("build failed")
    assert not (tmp_path / "fp.parquet").exists()
    assert "build failed" in (tmp_path / "job.log").read_text()
    with footprint.tracked(_smk(tmp_path, footprint_out=False), "plan_energy"):
        pass
    assert not (tmp_path / "fp.parquet").exists()


def _rows():
    def row(job, j, label="estimated", reason="", start_s=0):
        return pd.DataFrame(
            [
                {
                    "job": job,
                    "stage": footprint.STAGES[job],
                    "target": f"results/{job}/{j}",
                    "device": "cpu",
                    "started_utc": (pd.Timestamp("2026-11-25", tz="UTC") + pd.Timedelta(seconds=start_s)).isoformat(),
                    "wall_s": 10.0,
                    "cpu_s": 15.0,
                    "energy_j": j,
                    "energy_label": label,
                    "energy_source": "codecarbon",
                    "energy_reason": reason,
                    "threads": 2,
                    "host": "h",
                }
            ]
        )

    return [  # one after the other (10 s each)
        row("finetune", 3600.0),
        row("measure_energy", 7200.0, start_s=10),
        row("measure_energy", 3600.0, start_s=20),
        row("evaluate", None, "unavailable", "codecarbon is not installed", start_s=30),
    ]


def test_combine_prices_each_job_and_by_stage_keeps_unavailable_jobs_out_of_the_sums(tmp_path):
    table = footprint.combine(_rows(), ci_g_per_kwh=400.0, zone="DE")
    co2e = table.set_index("target").co2e_g
    assert co2e["results/finetune/3600.0"] == pytest.approx(0.4)
    assert co2e["results/measure_energy/7200.0"] == pytest.approx(0.8)
    assert math.isnan(co2e["results/evaluate/None"])
    stages = footprint.by_stage(table).set_index("stage")
    assert stages.loc["measure", "kwh"] == pytest.approx(0.003) and stages.loc["measure", "jobs"] == 2
    assert math.isnan(stages.loc["evaluate", "kwh"]) and stages.loc["evaluate", "jobs_unavailable"] == 1
    assert stages.loc["evaluate", "label"] == "unavailable"
    assert stages.energy_share.sum() == pytest.approx(1.0)
    assert footprint.measuring_share(table) == pytest.approx(0.75)
    md = footprint.to_markdown(table)
    assert "# What this study cost" in md and "75%" in md and "codecarbon is not installed" in md
    io.write_parquet(table, tmp_path / "footprint.parquet", footprint.TABLE_SCHEMA)  # the schema fits combine's columns


def test_grid_intensity_is_the_zone_mean_and_an_unknown_zone_is_named():
    traces = pd.DataFrame({"zone": ["DE", "DE", "FR"], "ci": [300.0, 500.0, 50.0]})
    assert footprint.grid_intensity(traces, "DE") == 400.0
    with pytest.raises(ValueError, match="footprint.zone 'PL'"):
        footprint.grid_intensity(traces, "PL")


def test_job_device_is_the_device_wildcard_else_the_cpu():
    assert footprint.job_device(SimpleNamespace(device="cuda")) == "cuda"
    assert footprint.job_device(SimpleNamespace(model="minilm")) == "cpu"


def test_instrumentation_is_not_a_rule_input_so_editing_a_meter_does_not_rerun_the_fine_tune():
    from greenbench.pipeline.dag import INSTRUMENTATION, module_closure

    wrapped = module_closure("src", "scripts/finetune.py", INSTRUMENTATION)
    assert "src/greenbench/analysis/study_cost.py" not in wrapped and not any(
        "measure/energy/meters/" in f for f in wrapped
    )
    assert "src/greenbench/data/training.py" in wrapped
    assert "src/greenbench/analysis/study_cost.py" in module_closure("src", "scripts/footprint.py")


def test_without_any_energy_value_the_page_says_unavailable_never_zero_or_nan():
    rows = [
        r.assign(energy_j=None, energy_label="unavailable", energy_reason="codecarbon is not installed")
        for r in _rows()
    ]
    md = footprint.to_markdown(footprint.combine(rows, ci_g_per_kwh=400.0, zone="DE"))
    summary = md.splitlines()[2]
    assert "energy and gCO2e unavailable" in summary and "codecarbon is not installed" in md
    assert "0.0000 kWh" not in md and "nan%" not in md and " 0.0 gCO2e" not in md
    partial = footprint.to_markdown(footprint.combine(_rows(), ci_g_per_kwh=400.0, zone="DE"))
    assert "1 of 4 jobs without a value" in partial


def test_jobs_side_by_side_share_the_machine_reading_and_a_job_alone_keeps_its_own():
    rows = _rows()
    for frame, (start, wall, energy) in zip(rows, [(0, 10, 100.0), (5, 10, 200.0), (40, 10, 50.0)]):
        frame.loc[0, ["started_utc", "wall_s", "energy_j"]] = [
            (pd.Timestamp("2026-11-25", tz="UTC") + pd.Timedelta(seconds=start)).isoformat(timespec="milliseconds"),
            float(wall),
            energy,
        ]
    table = footprint.combine(rows, ci_g_per_kwh=400.0, zone="DE").set_index("target")
    first, second = table.loc["results/finetune/3600.0"], table.loc["results/measure_energy/7200.0"]
    alone = table.loc["results/measure_energy/3600.0"]
    # 0-5 s alone (50 J of its 100), 5-10 s shared with the second (half of 50 J)
    assert first.energy_j == pytest.approx(75.0) and first.shared_s == pytest.approx(5.0)
    # 5-10 s shared (half of 100 J), 10-15 s alone (100 J)
    assert second.energy_j == pytest.approx(150.0) and second.window_energy_j == 200.0
    assert alone.energy_j == 50.0 and alone.shared_s == 0.0
    assert math.isnan(table.loc["results/evaluate/None"].energy_j)  # unavailable stays unavailable


def test_a_gpu_reading_and_another_hosts_job_are_not_shared():
    rows = _rows()[:2]
    for frame in rows:
        frame.loc[0, "started_utc"] = "2026-11-25T00:00:00.000+00:00"
    rows[1].loc[0, "host"] = "other"
    table = footprint.combine(rows, ci_g_per_kwh=400.0, zone="DE")
    assert list(table.energy_j) == list(table.window_energy_j) and (table.shared_s == 0).all()
    rows[1].loc[0, ["host", "device", "energy_source"]] = ["h", "cuda", "nvml_counter"]
    table = footprint.combine(rows, ci_g_per_kwh=400.0, zone="DE")
    assert list(table.energy_j) == list(table.window_energy_j)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.integers(1, 50), st.floats(1.0, 1e4, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=8,
    )
)
def test_shared_energy_never_adds_joules_and_counts_a_common_power_once(jobs):
    starts, walls, energies = (np.array(column, dtype=float) for column in zip(*jobs))
    share, shared = footprint.shared_energy(starts, walls, energies)
    assert (share >= 0).all() and (share <= energies * (1 + 1e-9)).all()
    assert share.sum() <= energies.sum() * (1 + 1e-9)
    alone = shared == 0
    assert np.array_equal(share[alone], energies[alone])
    # every job at the same power: the total is that power over the union of the windows
    power = 7.0
    share, _ = footprint.shared_energy(starts, walls, power * walls)
    ends = starts + walls
    covered = sum(1.0 for t in np.arange(0, 151, 0.5) if ((starts <= t + 0.25) & (t + 0.25 < ends)).any()) * 0.5
    assert share.sum() == pytest.approx(power * covered, rel=1e-9)


def test_a_job_of_several_threads_drops_snakemakes_omp_num_threads_before_torch_loads(monkeypatch):
    import sys

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as in a job's fresh process
    assert footprint.release_openmp_threads(2) and "OMP_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert not footprint.release_openmp_threads(1) and os.environ["OMP_NUM_THREADS"] == "1"


def test_openmp_threads_stay_once_torch_is_loaded(monkeypatch):
    import torch  # noqa: F401  (loaded: libgomp has read the variable; dropping it would only mislead)

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not footprint.release_openmp_threads(2) and os.environ["OMP_NUM_THREADS"] == "2"
