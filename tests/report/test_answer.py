"""The study's answer (issue 20, item 5): generated from the tables, never typed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from greenbench.report import answer

SETTINGS = {"max_accuracy_loss_pts": 1.0, "max_latency_p95_ms": 100.0, "grid": "DE"}


def _cell(variant, batch, **kw):
    return {
        "device": "cpu",
        "model": "m",
        "variant": variant,
        "batch_size": batch,
        "padding": "dynamic",
        "mode": "eager",
        **kw,
    }


def _tables():
    j = {
        ("fp32", 8): 0.10,
        ("int8_dynamic", 8): 0.05,
        ("bf16@aot_inductor", 8): 0.04,
        ("spiking", 8): 0.03,
        ("int8_dynamic", 64): 0.045,
    }
    p95 = {
        ("fp32", 8): 90.0,
        ("int8_dynamic", 8): 40.0,
        ("bf16@aot_inductor", 8): 30.0,
        ("spiking", 8): 50.0,
        ("int8_dynamic", 64): 400.0,
    }
    energy = pd.DataFrame(
        [
            _cell(v, b, metric="j_per_inf_gross", mean=x, ci_low=0.95 * x, ci_high=1.05 * x, energy_label="estimated")
            for (v, b), x in j.items()
        ]
        + [
            _cell(v, b, metric="latency_p95_ms", mean=x, ci_low=x, ci_high=x, energy_label="measured")
            for (v, b), x in p95.items()
        ]
    )
    accuracy = pd.DataFrame(
        [
            {"device": "cpu", "model": "m", "variant": v, "status": "ok", "accuracy": a, "delta_vs_fp32": a - 0.878}
            for v, a in (("fp32", 0.878), ("int8_dynamic", 0.870), ("bf16@aot_inductor", 0.878), ("spiking", 0.819))
        ]
    )
    carbon = pd.DataFrame(
        [
            _cell(
                v,
                b,
                grid="DE",
                g_per_1000_inf=x * 406 / 3.6e3,
                ci_low=0.9 * x * 406 / 3.6e3,
                ci_high=1.1 * x * 406 / 3.6e3,
            )
            for (v, b), x in j.items()
        ]
    )
    rng = np.random.default_rng(0)
    meas = pd.DataFrame(
        [
            _cell(v, b, trial=t, j_per_inf_gross=x * np.exp(rng.normal(0, 0.01)))
            for t in range(4)
            for (v, b), x in j.items()
        ]
    )
    return energy, accuracy, carbon, meas


def test_the_answer_is_the_greenest_cell_within_the_accuracy_and_latency_bounds():
    energy, accuracy, carbon, meas = _tables()
    table = answer.answer(energy, accuracy, carbon, meas, SETTINGS, first_stage=3)
    row = table.iloc[0]
    # spiking is cheaper but loses 5.9 points; int8 at batch 64 is cheaper but too slow: bf16@aot wins
    assert row.best == "bf16@aot_inductor" and row.batch_size == 8 and row.runner_up == "int8_dynamic"
    assert row.j_per_inf == 0.04 and row.g_per_1000 == pytest_approx(0.04 * 406 / 3.6e3)
    assert row.ratio_low < row.ratio_vs_runner < row.ratio_high < 1.0  # distinguishably lower than the runner-up
    md = answer.to_markdown(table, [], SETTINGS)
    assert "`bf16@aot_inductor` at batch 8" in md and "lower, with 95% confidence" in md


def test_no_qualifying_cell_is_said_not_invented():
    energy, accuracy, carbon, meas = _tables()
    table = answer.answer(energy, accuracy, carbon, meas, {**SETTINGS, "max_latency_p95_ms": 1.0})
    assert table.iloc[0].best is None and "no measured cell qualifies" in answer.to_markdown(table, [], SETTINGS)


def test_where_and_when_is_the_saving_over_the_nearest_region():
    schedule = pd.DataFrame(
        {
            "scenario": ["eu"] * 3,
            "policy": ["nearest", "forecast_greedy", "oracle"],
            "g_per_1000_requests": [10.0, 6.0, 5.0],
        }
    )
    rows = {r["policy"]: r for r in answer.where_and_when(schedule)}
    assert math.isclose(rows["forecast_greedy"]["saving_vs_nearest_pct"], 40.0)
    assert math.isclose(rows["oracle"]["saving_vs_nearest_pct"], 50.0)
    assert answer.where_and_when(None) == []


EPYC = {
    "cpu_model": "AMD EPYC 9654 96-Core Processor",
    "cpu_vendor": "amd",
    "threads": 2,
    "rapl_readable": False,
    "isa": {"amx": False, "avx512_bf16": True, "avx512_vnni": True, "avx2": True},
    "logical_cores": 2,
    "gpu_model": None,
    "gpu_driver": None,
    "gpu_count": 0,
}


def test_the_answer_states_the_host_class_it_answers_for():
    energy, accuracy, carbon, meas = _tables()
    table = answer.answer(energy, accuracy, carbon, meas, SETTINGS, first_stage=3)
    trials = [{"device": "cpu", "trial": t, "host_fingerprint": EPYC} for t in range(4)]
    lines = answer.to_markdown(table, [], SETTINGS, trials).splitlines()
    line = "Host class: AMD without AMX (AVX512-BF16, VNNI); 2 threads; RAPL not readable (CPU energy estimated)."
    assert line in lines[:4]  # near the top, once however many trials
    assert sum(x.startswith("Host class") for x in lines) == 1
    readable = [{"device": "cpu", "host_fingerprint": {**EPYC, "rapl_readable": True}}]
    assert (
        "Host class: AMD without AMX (AVX512-BF16, VNNI); 2 threads; RAPL readable."
        in answer.to_markdown(table, [], SETTINGS, readable).splitlines()
    )
    gpu = {**EPYC, "gpu_model": "NVIDIA H100 80GB HBM3", "threads": 1}
    two = answer.host_lines(trials + [{"device": "cuda", "host_fingerprint": gpu}], table)
    assert two == [
        "Host class (cpu): AMD without AMX (AVX512-BF16, VNNI); 2 threads; RAPL not readable (CPU energy estimated).",
        "Host class (cuda): AMD without AMX (AVX512-BF16, VNNI) + NVIDIA H100 80GB HBM3; 1 thread; RAPL not readable.",
    ]
    assert answer.host_lines(None) == [
        "Host class: not recorded (the measurements' provenance has no host fingerprint)."
    ]


def pytest_approx(x):
    import pytest

    return pytest.approx(x)
