"""The study's answer (issue 20, item 5; traffic-aware since issue 34): generated from the tables, never typed."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from greenbench.report import answer

SETTINGS = {
    "max_accuracy_loss_pts": 1.0,
    "max_latency_p95_ms": 100.0,
    "grid": "DE",
    "traffic": 1000 / 3600,  # the routing scenario's 1,000 requests/hour
    "traffic_levels": [0.3, 3, 30, 300],
    "max_wait_ms": 50,
    "max_utilisation": 0.8,
}
# measured J/inference and per-call p95 (ms) by batch size; spiking is cheapest but loses 5.9 points
J = {
    "fp32": {1: 0.30, 8: 0.10, 64: 0.06},
    "int8_dynamic": {1: 0.15, 8: 0.05, 64: 0.03},
    "bf16@aot_inductor": {1: 0.12, 8: 0.04, 64: 0.025},
    "spiking": {8: 0.01},
}
P95 = {
    "fp32": {1: 20.0, 8: 90.0, 64: 600.0},
    "int8_dynamic": {1: 10.0, 8: 40.0, 64: 250.0},
    "bf16@aot_inductor": {1: 8.0, 8: 30.0, 64: 200.0},
    "spiking": {8: 50.0},
}
ACCURACY = {"fp32": 0.878, "int8_dynamic": 0.870, "bf16@aot_inductor": 0.878, "spiking": 0.819}


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


def _tables(j=None, p95s=None, accuracies=None):
    J, P95, ACCURACY = j or globals()["J"], p95s or globals()["P95"], accuracies or globals()["ACCURACY"]
    rows = []
    for v, by_batch in J.items():
        for b, x in by_batch.items():
            p95 = P95[v][b]
            p50 = 0.8 * p95
            rows += [
                _cell(
                    v, b, metric="j_per_inf_gross", mean=x, ci_low=0.95 * x, ci_high=1.05 * x, energy_label="estimated"
                ),
                _cell(v, b, metric="latency_p95_ms", mean=p95, ci_low=p95, ci_high=p95, energy_label="measured"),
                _cell(v, b, metric="latency_p50_ms", mean=p50, ci_low=p50, ci_high=p50, energy_label="measured"),
                _cell(
                    v,
                    b,
                    metric="throughput_per_s",
                    mean=1e3 * b / p50,
                    ci_low=0.97e3 * b / p50,
                    ci_high=1.03e3 * b / p50,
                    energy_label="measured",
                ),
            ]
    energy = pd.DataFrame(rows)
    accuracy = pd.DataFrame(
        [
            {"device": "cpu", "model": "m", "variant": v, "status": "ok", "accuracy": a, "delta_vs_fp32": a - 0.878}
            for v, a in ACCURACY.items()
        ]
    )
    g = 406 / 3.6e3  # gCO2e per 1,000 inferences per J/inference at 406 g/kWh
    carbon = pd.DataFrame(
        [
            _cell(v, b, grid="DE", g_per_1000_inf=x * g, ci_low=0.9 * x * g, ci_high=1.1 * x * g)
            for v, by_batch in J.items()
            for b, x in by_batch.items()
        ]
    )
    rng = np.random.default_rng(0)
    meas = pd.DataFrame(
        [
            _cell(v, b, trial=t, j_per_inf_gross=x * np.exp(rng.normal(0, 0.01)))
            for t in range(4)
            for v, by_batch in J.items()
            for b, x in by_batch.items()
        ]
    )
    return energy, accuracy, carbon, meas


def test_at_1000_requests_an_hour_the_answer_picks_no_batch_the_traffic_cannot_fill():
    energy, accuracy, carbon, meas = _tables()
    for wait in (50, None):  # a 50 ms dispatch timeout, or waiting for a full batch
        settings = {**SETTINGS, "max_wait_ms": wait}
        row = answer.answer(energy, accuracy, carbon, meas, settings, first_stage=3).iloc[0]
        assert row.variant == "bf16@aot_inductor" and row.batch_size == 1, wait
        assert row.effective_batch == 1 and row.wait_p95_ms == 0 and row.request_p95_ms == 8.0
        assert row.j_per_inf == 0.12 and row.g_per_1000 == pytest.approx(0.12 * 406 / 3.6e3)
        # the runner-up is another configuration, not bf16 at a batch it ties with
        assert row.runner_up == "int8_dynamic" and row.runner_batch_size == 1
        assert row.ratio_low < row.ratio_vs_runner < row.ratio_high < 1.0
    # waiting for a full batch of 8 at this rate takes ~25 s: such cells do not qualify, by their latency
    served = answer.at_traffic(
        answer.measured_cells(energy, accuracy, carbon, "DE"), 1000 / 3600, {**SETTINGS, "max_wait_ms": None}
    )
    batched = served[served.batch_size > 1]
    assert (batched.wait_p95_ms > 20_000).all() and batched.why_not.str.contains("latency").all()
    # with a timeout a batch of 64 is dispatched with ~1.01 requests: its J/inference is batch 1's, not batch 64's
    served = answer.at_traffic(answer.measured_cells(energy, accuracy, carbon, "DE"), 1000 / 3600, SETTINGS)
    b64 = served[(served.variant == "bf16@aot_inductor") & (served.batch_size == 64)].iloc[0]
    assert b64.effective_batch == pytest.approx(1.0139, abs=1e-4) and b64.j_per_inf > 0.11 and b64.wait_p95_ms == 50


def test_more_traffic_fills_bigger_batches_until_the_server_saturates():
    energy, accuracy, carbon, meas = _tables()
    table = answer.traffic_table(energy, accuracy, carbon, meas, SETTINGS, first_stage=3)
    assert table.traffic_rps.tolist() == [0.3, 3, 30, 300] and set(table.columns) == set(answer.COLUMNS)
    low, mid, busy, saturated = (r for _, r in table.iterrows())
    assert low.batch_size == 1 and mid.batch_size == 8 and busy.batch_size == 8
    assert low.effective_batch < mid.effective_batch < busy.effective_batch <= 8
    assert low.j_per_inf > mid.j_per_inf > busy.j_per_inf  # fuller batches, less energy per inference
    # batches of 8 and 64 fill alike at 30 requests/s (2.5 on average): a tie, to the smaller batch
    assert busy.effective_batch == pytest.approx(2.5, rel=1e-3)
    # between measured batch sizes the J/inference is interpolated log-log
    expected = math.exp(np.interp(math.log(busy.effective_batch), np.log([1, 8, 64]), np.log([0.12, 0.04, 0.025])))
    assert busy.j_per_inf == pytest.approx(expected) and busy.j_low == pytest.approx(0.95 * expected)
    # at 300 requests/s every cell's server would be busier than 80% (or too slow): said, not invented
    assert saturated.variant is None and "utilisation 0.8" in saturated.reason
    md = answer.to_markdown(
        answer.answer(energy, accuracy, carbon, meas, SETTINGS, first_stage=3), [], SETTINGS, None, table
    )
    assert "**cpu / m** at 0.278 requests/s (1,000/hour): **run `bf16@aot_inductor` at batch 1**" in md
    assert "| cpu / m | 30 requests/s (108,000/hour) | `bf16@aot_inductor` | 8 | 2.50 |" in md
    assert "| cpu / m | 300 requests/s (1,080,000/hour) | nothing qualifies (" in md


def test_the_utilisation_bound_excludes_a_server_that_cannot_keep_up():
    energy, accuracy, carbon, meas = _tables()
    served = answer.at_traffic(answer.measured_cells(energy, accuracy, carbon, "DE"), 100.0, SETTINGS)
    one = served[(served.variant == "fp32") & (served.batch_size == 1)].iloc[0]
    assert one.utilisation == pytest.approx(100 * 0.016) and one.why_not == "utilisation"  # 16 ms per request
    looser = answer.at_traffic(
        answer.measured_cells(energy, accuracy, carbon, "DE"), 100.0, {**SETTINGS, "max_utilisation": 1.0}
    )
    assert looser.set_index(["variant", "batch_size"]).loc[("int8_dynamic", 1), "qualifies"]


def test_loglog_interpolation_is_exact_at_the_knots_and_clamped_outside():
    assert answer.loglog(8, [1, 8, 64], [0.3, 0.1, 0.06]) == pytest.approx(0.1)
    assert answer.loglog(0.5, [1, 8, 64], [0.3, 0.1, 0.06]) == pytest.approx(0.3)
    assert answer.loglog(100, [1, 8, 64], [0.3, 0.1, 0.06]) == pytest.approx(0.06)
    assert answer.loglog(np.sqrt(8), [1, 8], [0.3, 0.1]) == pytest.approx(np.sqrt(0.03))
    assert math.isnan(answer.loglog(2, [1, 8], [math.nan, -1.0]))


def test_no_qualifying_cell_is_said_not_invented():
    energy, accuracy, carbon, meas = _tables()
    table = answer.answer(energy, accuracy, carbon, meas, {**SETTINGS, "max_latency_p95_ms": 1.0})
    row = table.iloc[0]
    assert row.variant is None and row.qualifying == 0 and "exceed request p95 1 ms" in row.reason
    assert "no measured cell qualifies" in answer.to_markdown(table, [], SETTINGS)


def test_the_page_reads_the_same_from_the_parquet_tables(tmp_path):
    """Read back from Parquet, a level where nothing qualifies is null (NaN), and batch sizes of a column
    with nulls are floats: the page still says "nothing qualifies" and prints whole batch sizes."""
    from greenbench.core import io

    energy, accuracy, carbon, meas = _tables()
    levels = answer.traffic_table(energy, accuracy, carbon, meas, {**SETTINGS, "traffic_levels": [0.3, 1e6]})
    assert levels["variant"].isna().any() and levels["variant"].notna().any()
    io.write_parquet(levels, tmp_path / "t.parquet", answer.SCHEMA, {})
    back = io.read_parquet(tmp_path / "t.parquet")
    page = answer.to_markdown(back.head(1), [], SETTINGS, traffic=back)
    assert "nothing qualifies" in page and "`nan`" not in page and "| nan" not in page
    assert re.search(r"at batch \d+\*\*", page) and not re.search(r"at batch \d+\.0", page)


def test_the_page_states_the_paired_interval_and_the_routing_lines():
    energy, accuracy, carbon, meas = _tables()
    accuracy = accuracy.assign(
        delta_ci_low=accuracy["delta_vs_fp32"] - 0.004, delta_ci_high=accuracy["delta_vs_fp32"] + 0.002
    )
    table = answer.answer(energy, accuracy, carbon, meas, SETTINGS)
    row = table.iloc[0]
    assert math.isclose(row.delta_low_pts, -row.loss_pts - 0.4) and math.isclose(
        row.delta_high_pts, -row.loss_pts + 0.2
    )
    page = answer.to_markdown(table, ["- **europe**, cpu: a routing line."], SETTINGS)
    assert "paired 95% CI [" in page and "applies to the point estimate" in page
    assert "not how far a rerun moves it" in page  # what the interval does not cover
    assert "- **europe**, cpu: a routing line." in page.split("Where and when")[1]
    assert "Where and when" not in answer.to_markdown(table, [], SETTINGS)


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


def test_the_answer_stage_writes_both_tables_with_their_settings(tmp_path):
    """Rule `answer`'s stage: the headline at the configured traffic and the traffic table, each with the
    settings and provenance it was made with; the paper renders answer.md from them."""
    from greenbench.core import io
    from greenbench.pipeline import stages
    from greenbench.pipeline.stages import answer as stage

    energy, accuracy, carbon, meas = _tables()
    inputs = {}
    for name, df in (("energy", energy), ("accuracy", accuracy), ("carbon", carbon)):
        inputs[name] = tmp_path / f"{name}.parquet"
        df.to_parquet(inputs[name])
    inputs["measurements"] = tmp_path / "measurements.parquet"
    meas.assign(status="ok", valid=True, sampler=True).to_parquet(inputs["measurements"])
    out = stages.Output(
        answer=str(tmp_path / "answer.parquet"),
        traffic=str(tmp_path / "answer_traffic.parquet"),
        runtimes=str(tmp_path / "answer_runtimes.parquet"),
        composed=str(tmp_path / "answer_composed.parquet"),
    )
    stage.run(stages.job(inputs, out, {"answer": SETTINGS, "first_stage": 3}))
    headline, levels = io.read_parquet(out.answer), io.read_parquet(out.traffic)
    runtimes = io.read_parquet(out.runtimes)
    assert runtimes.runtime.tolist() == ["aot_inductor", "eager"] and io.read_parquet(out.composed).empty
    assert list(headline.columns) == answer.COLUMNS == list(levels.columns)
    assert headline.variant.tolist() == ["bf16@aot_inductor"] and headline.batch_size.tolist() == [1]
    assert levels.traffic_rps.tolist() == [0.3, 3, 30, 300] and levels.variant.isna().tolist() == [False] * 3 + [True]
    meta = io.read_metadata(out.answer)
    assert meta["settings"]["answer"] == SETTINGS and "git_commit" in meta["provenance"]
    md = answer.to_markdown(headline, [], meta["settings"]["answer"], None, levels)
    assert "run `bf16@aot_inductor` at batch 1" in md and md.count("| cpu / m |") == 4


def test_every_runtime_gets_its_greenest_cell_and_the_best_chain_is_compared_paired():
    """Issue 36: every runtime's greenest qualifying cell side by side (sentences/s and J/inference with
    intervals), and the best composed cell against the best single-recipe cell, paired by trial."""
    chain = "prune_ffn25+int8_dynamic@onnxruntime"
    j = {**J, "int8_dynamic@onnxruntime": {1: 0.10, 8: 0.035, 64: 0.02}, chain: {1: 0.07, 8: 0.03, 64: 0.018}}
    p95 = {**P95, "int8_dynamic@onnxruntime": {1: 7.0, 8: 25.0, 64: 150.0}, chain: {1: 6.0, 8: 22.0, 64: 130.0}}
    acc = {**ACCURACY, "int8_dynamic@onnxruntime": 0.872, chain: 0.870}
    energy, accuracy, carbon, meas = _tables(j, p95, acc)
    runtimes = answer.by_runtime(energy, accuracy, carbon, SETTINGS)
    assert runtimes.runtime.tolist() == ["aot_inductor", "eager", "onnxruntime"]
    ort = runtimes.set_index("runtime").loc["onnxruntime"]
    assert ort.variant == chain and ort.batch_size == 1  # 0.278 requests/s fill no bigger batch
    assert ort.throughput_low < ort.throughput_per_s < ort.throughput_high
    assert ort.j_low < ort.j_per_inf < ort.j_high and ort.loss_pts == pytest.approx(0.8)
    composed = answer.composed_vs_single(energy, accuracy, carbon, meas, SETTINGS, first_stage=3)
    row = composed.iloc[0]
    assert row.composed == chain and row.single == "int8_dynamic@onnxruntime"
    assert row.ratio == pytest.approx(0.7, rel=0.05) and row.ratio_low < row.ratio < row.ratio_high < 1
    lines = "\n".join(answer.runtimes_markdown(runtimes, composed))
    assert f"| cpu / m | onnxruntime | `{chain}` | 1 |" in lines
    assert "composed/single = 0.7" in lines and "lower, with 95% confidence" in lines
    md = answer.to_markdown(
        answer.answer(energy, accuracy, carbon, meas, SETTINGS), [], SETTINGS, None, None, runtimes, composed
    )
    assert "Every runtime's greenest qualifying cell" in md and md.count("| cpu / m |") == 3


def test_without_energy_values_the_answer_says_why_instead_of_saying_nothing():
    energy, accuracy, carbon, meas = _tables()
    energy = energy.assign(mean=np.where(energy.metric == "j_per_inf_gross", np.nan, energy["mean"]))
    meas = meas.assign(
        j_per_inf_gross=np.nan,
        reason="",
        flags="energy unavailable: codecarbon is not installed (pip install codecarbon)",
    )
    table = answer.answer(energy, accuracy, carbon, meas, SETTINGS)
    assert table.variant.isna().all() and len(table) == 1
    assert "no cell has a J/inference value" in table.reason[0] and "codecarbon is not installed" in table.reason[0]
    md = answer.to_markdown(table, [], SETTINGS)
    assert "- **cpu / m**: no answer: no cell has a J/inference value" in md
    # and still ranks the cells by what was measured, saying how to get the energy
    lines = answer.ranked_without_energy(table, energy, accuracy, SETTINGS)
    md = answer.to_markdown(table, [], SETTINGS, without_energy=lines)
    assert "To measure it: install the `energy` extra" in md and not re.search(r"\bnan\b", md)
    rows = [line for line in lines if line.startswith("| ") and "sentences/s" not in line]
    throughput = [float(line.split("|")[3].split()[0]) for line in rows]
    assert throughput == sorted(throughput, reverse=True) and len(rows) >= 2
    assert not any(line.startswith("| spiking") for line in rows)  # 5.9 points below fp32: outside the bound
    assert all(float(line.split("|")[4]) <= SETTINGS["max_latency_p95_ms"] for line in rows)
    # where every cell has its energy there is nothing to add
    energy_ok, *_ = _tables()
    assert answer.ranked_without_energy(answer.answer(*_tables(), SETTINGS), energy_ok, accuracy, SETTINGS) == []


def test_the_served_cell_is_the_answers_cell_and_reads_no_carbon_table(tmp_path):
    """Rule `served_cell` (what the routing serves, carbon.schedule.energy: answer): the answer's own choice at
    every traffic and bound, from the energy and accuracy tables alone; a carbon table whose gCO2e rank the
    cells the other way round changes the answer's grams, not its cell (so a grid edit reruns no routing)."""
    from greenbench.carbon import served
    from greenbench.core import io
    from greenbench.pipeline import stages
    from greenbench.pipeline.stages import served_cell as stage

    energy, accuracy, carbon, meas = _tables()
    upside_down = carbon.assign(
        g_per_1000_inf=1 / carbon["g_per_1000_inf"], ci_low=1 / carbon["ci_high"], ci_high=1 / carbon["ci_low"]
    )
    keys = ["device", "model", "variant", "batch_size", "padding", "mode", "effective_batch", "j_per_inf"]
    for settings in (
        SETTINGS,
        {**SETTINGS, "max_wait_ms": None},
        {**SETTINGS, "max_accuracy_loss_pts": 7.0},  # spiking qualifies
        {**SETTINGS, "max_latency_p95_ms": 1.0},  # nothing qualifies
    ):
        for rate in (0.3, 1000 / 3600, 30, 1e6):
            cell = answer.served_cell(energy, accuracy, settings, rate)
            assert list(cell.columns) == answer.SERVED_COLUMNS
            for table in (carbon, upside_down):
                headline = answer.answer(energy, accuracy, table, meas, settings, rate, first_stage=3)
                pd.testing.assert_frame_equal(
                    cell[[*keys, "request_p50_ms", "request_p95_ms", "qualifying"]].astype(object),
                    headline[[*keys, "request_p50_ms", "request_p95_ms", "qualifying"]].astype(object),
                    check_dtype=False,
                )
                assert (cell.reason == headline.reason).all()
    # the stage writes what the routing reads, and the routing serves the answer's configuration
    inputs = {"energy": tmp_path / "energy.parquet", "accuracy": tmp_path / "accuracy.parquet"}
    energy.to_parquet(inputs["energy"])
    accuracy.to_parquet(inputs["accuracy"])
    out = str(tmp_path / "served.parquet")
    settings = {k: v for k, v in SETTINGS.items() if k not in ("grid", "traffic_levels")}
    stage.run(stages.job(inputs, stages.Output([out]), {"answer": settings}))
    (cpu,) = served.served_cells("answer", None, io.read_parquet(out))
    best = answer.answer(energy, accuracy, carbon, meas, SETTINGS).iloc[0]
    assert cpu.served == served.describe(*best[["variant", "batch_size", "padding", "mode", "effective_batch"]])
    assert cpu.j_per_request == best.j_per_inf and cpu.p95_ms == best.request_p95_ms
    assert cpu.traffic_rps == pytest.approx(SETTINGS["traffic"]) and cpu.label == best.energy_label
    assert io.read_metadata(out)["settings"] == {"answer": settings}
    # no J/inference anywhere: no cell, the reason said
    none = energy.assign(mean=np.where(energy.metric == "j_per_inf_gross", np.nan, energy["mean"]))
    row = answer.served_cell(none, accuracy, SETTINGS).iloc[0]
    assert row.variant is None and "no cell has a J/inference value" in row.reason
    assert served.served_cells("answer", None, answer.served_cell(none, accuracy, SETTINGS)) == []
