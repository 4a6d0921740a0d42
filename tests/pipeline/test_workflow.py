"""Snakemake-level behaviour: config validation, dry-runs, lint, the smoke run, rerun granularity."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SMOKE, copy_tree, run


def job_counts(output: str) -> dict[str, int]:
    """Parse Snakemake's 'Job stats' table."""
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("job ") and "count" in line:
            in_table = True
            continue
        if in_table:
            m = re.match(r"^([A-Za-z_]\w*)\s+(\d+)$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    return counts


@pytest.fixture()
def project(tmp_path) -> Path:
    """A copy of the workflow tree, so runs never touch the checkout's results/."""
    return copy_tree(tmp_path)


@pytest.mark.parametrize("extra", [[], ["--configfile", "config/smoke.yaml"], ["--configfile", "config/paper.yaml"]])
def test_dry_run_each_config(project, extra):
    # planned as by a user who can reach the hub (paper.yaml's models are downloaded at run time)
    proc = run(project, "-n", "--cores", "1", *extra, env={"HF_HUB_OFFLINE": "0"})
    assert proc.returncode == 0, proc.stderr
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts.get("finetune", 0) >= 1 and counts.get("eval_summary") == 1


def test_a_carbon_only_config_plans_no_inference_study(project):
    proc = run(project, "-n", "--cores", "1", "carbon", "--configfile", "config/carbon-only.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts.get("simulate_schedule") == 2 and counts.get("forecast_carbon") == 1
    assert not {"finetune", "build_variant", "evaluate", "measure_energy", "aggregate"} & set(counts)


def test_a_users_own_grid_replaces_the_default_zones_tables_and_scenarios(project):
    """zones, origin shares, latencies and scenarios of a user's file replace the default's (not merged),
    and a scenario can override the users, the network and the SLO."""
    (project / "grid.yaml").write_text(
        "carbon:\n  zones: [BE, NL]\n  schedule:\n"
        "    origin_shares: {BE: 0.4, NL: 0.6}\n"
        "    latency_ms: {BE: {BE: 4, NL: 9}, NL: {BE: 9, NL: 4}}\n"
        "    scenarios:\n      benelux: {}\n"
        "      only_nl: {zones: [NL], origin_shares: {BE: 1, NL: 0}, slo_ms: 60}\n"
        "    energy: {j_per_request: 0.3, latency_p50_ms: 20, latency_p95_ms: 40}\n"
        "footprint: {zone: NL}\n"
    )
    proc = run(project, "-n", "--cores", "1", "carbon", "--configfile", "grid.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "results/carbon/schedule/only_nl.parquet" in out and "europe_without_fr" not in out
    (project / "bad_grid.yaml").write_text(
        (project / "grid.yaml")
        .read_text()
        .replace(
            "latency_ms: {BE: {BE: 4, NL: 9}, NL: {BE: 9, NL: 4}}", "latency_ms: {BE: {BE: 4, NL: 9}, NL: {NL: 4}}"
        )
    )
    proc = run(project, "-n", "--cores", "1", "carbon", "--configfile", "bad_grid.yaml")
    assert proc.returncode != 0 and "'carbon.schedule.latency_ms.NL'" in proc.stdout + proc.stderr


def test_bad_config_fails_before_any_job(project):
    (project / "bad.yaml").write_text("finetune:\n  epochs: zero\n")
    proc = run(project, "-n", "--cores", "1", "--configfile", "bad.yaml")
    assert proc.returncode != 0
    assert "'finetune.epochs'" in proc.stdout + proc.stderr
    assert not (project / "results").exists()
    # one block, no traceback and no frame line of the Snakefile (GREENBENCH_DEBUG=1 gives them)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and 'Snakefile", line' not in out, out
    debug = run(project, "-n", "--cores", "1", "--configfile", "bad.yaml", env={"GREENBENCH_DEBUG": "1"})
    assert debug.returncode != 0 and 'Snakefile", line' in debug.stdout + debug.stderr


def test_a_key_given_twice_fails_before_any_job_naming_file_and_lines(project):
    (project / "dup.yaml").write_text("energy:\n  trials: 2\n  trials: 3\n")
    proc = run(project, "-n", "--cores", "1", "--configfile", "dup.yaml")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "dup.yaml" in out and "'trials' is given twice (first on line 2)" in out
    assert not (project / "results").exists()


def test_integral_floats_are_integers_in_the_dag(project):
    # a YAML tool writing 3 as 3.0: valid as an integer, so the DAG must treat it as 3 (not raise in range())
    (project / "floats.yaml").write_text("energy:\n  trials: 3.0\n")
    proc = run(project, "-n", "--cores", "1", "--configfile", "config/smoke.yaml", "floats.yaml")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert job_counts(proc.stdout + proc.stderr)["measure_energy"] == 3


def test_malformed_tsv_fails_naming_file_and_line(project):
    sst2 = project / "resources" / "sst2"
    sst2.mkdir(parents=True)
    (sst2 / "dev.tsv").write_text("sentence\tlabel\nfine film \t1\nbroken row without label\n")
    proc = run(project, "--cores", "1", "results/data/sst2/dev.parquet")
    assert proc.returncode != 0
    assert "resources/sst2/dev.tsv:3: expected 2 tab-separated fields" in proc.stdout + proc.stderr
    assert not (project / "results" / "data" / "sst2" / "dev.parquet").exists()


def test_lint_and_format_clean():
    proc = run(REPO, "--lint")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "workflow"], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stderr
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "src", "scripts", "tests", "benchmarks", "experiments"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    layout = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "src", "scripts", "tests", "benchmarks", "experiments"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert layout.returncode == 0, layout.stdout + layout.stderr  # `make format` fixes it


def _png_ok(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000


@pytest.mark.workflow
def test_smoke_accuracy_and_energy_outputs(smoke):
    import pandas as pd

    project, _ = smoke
    summary = pd.read_parquet(project / "results" / "eval" / "summary.parquet")
    assert summary.status.isin(["ok", "not_applicable"]).all()
    ok = summary[summary.status == "ok"]
    assert {"fp32", "int8_dynamic", "adaptive"} <= set(ok.variant) and ok.accuracy.between(0, 1).all()
    assert (summary[summary.status == "not_applicable"].accuracy.isna()).all()
    energy = pd.read_parquet(project / "results" / "energy" / "measurements.parquet")
    assert energy.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    # sequential stopping: trials 0-1 measure every cell; trial 2 only what the plan names, with its baseline
    first = energy[energy.trial < 2].groupby("trial").size()
    assert set(energy.trial) <= {0, 1, 2} and (first == first.iloc[0]).all()
    plan = pd.read_parquet(project / "results" / "energy" / "cpu" / "minilm" / "plan.parquet")
    later = energy[energy.trial == 2]
    assert set(later.variant) == set(plan[plan.trials > 2].variant) and len(later) < first.iloc[0]
    if len(later):
        assert "fp32" in set(later.variant)
    stopping = pd.read_parquet(project / "results" / "stats" / "stopping.parquet")
    assert stopping.outcome.isin(["target", "cap", "not a contender"]).all() and (stopping.trials >= 2).all()
    assert (stopping[stopping.outcome == "not a contender"].trials == 2).all()
    assert set(plan[plan.trials > 2].variant) <= set(plan[plan.contender].variant) | {"fp32"}
    reached = stopping[stopping.outcome == "target"]
    assert (reached.j_half_width <= reached.target + 1e-9).all() and (stopping.target == 0.4).all()
    assert (project / "results" / "logs" / "finetune" / "minilm.log").exists()
    assert (project / "results" / "benchmarks" / "finetune" / "minilm.tsv").exists()


@pytest.mark.workflow
def test_smoke_has_a_labelled_footprint_row_for_every_compute_job(smoke):
    import pandas as pd

    from greenbench.analysis.study_cost import STAGES

    project, _ = smoke
    table = pd.read_parquet(project / "results" / "stats" / "footprint.parquet")
    # one row per compute job the smoke DAG ran: its benchmark files count them (every compute rule has one)
    bench = project / "results" / "benchmarks"
    expected = {
        rule: len(list((bench / rule).rglob("*.tsv")))
        if (bench / rule).is_dir()
        else int((bench / f"{rule}.tsv").exists())
        for rule in STAGES
    }
    assert table.groupby("job").size().to_dict() == {r: n for r, n in expected.items() if n}
    assert table.target.is_unique and (table.wall_s > 0).all()
    assert table.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    missing = table[table.energy_j.isna()]
    assert (missing.energy_label == "unavailable").all() and (missing.energy_reason != "").all()  # no silent zeros
    assert ((table.co2e_g - table.energy_j / 3.6e6 * table.ci_g_per_kwh).abs().fillna(0) < 1e-9).all()
    cost = (project / "results" / "paper" / "footprint.md").read_text()
    assert "# What this study cost" in cost and "measure" in cost and "fine-tune" in cost


@pytest.mark.workflow
def test_smoke_figures_tables_claims_and_report(smoke):
    from greenbench.report.figures.figure import ordered

    FIGURES = [figure.name for figure in ordered()]

    project, env = smoke
    for name in FIGURES:
        assert _png_ok(project / "results" / "figures" / f"{name}.png"), name
        assert (project / "results" / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    claims = (project / "results" / "paper" / "claims.md").read_text()
    assert "| claim |" in claims and "batch 8" in claims and "not testable" in claims
    tables = (project / "results" / "paper" / "tables.md").read_text()
    assert "## Accuracy on SST-2 dev" in tables and "J per sentence by sentence length" in tables
    assert "\\begin{tabular}" in (project / "results" / "paper" / "tables.tex").read_text()
    assert "# The study's answer" in (project / "results" / "paper" / "answer.md").read_text()
    report = run(project, "--configfile", "config/smoke.yaml", "--report", "results/report.html", env=env)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (project / "results" / "report.html").stat().st_size > 10_000


@pytest.mark.workflow
def test_smoke_runs_an_onnxruntime_and_a_torch_compile_cell_end_to_end(smoke):
    from greenbench.core import io

    project, _ = smoke
    summary = io.read_parquet(project / "results" / "eval" / "summary.parquet").set_index("variant")
    for cell, runtime in (
        ("int8_dynamic@onnxruntime", "onnxruntime"),
        ("fp32@torch_compile", "torch_compile"),
        ("fp32@aot_inductor", "aot_inductor"),
        ("int8_static@openvino", "openvino"),
    ):
        row = summary.loc[cell]
        assert row.status == "ok" and row.runtime == runtime and row.runtime_build_s > 0, row.to_dict()
    # torch.compile of fp32 gives fp32's answers; ONNX Runtime int8 stays near them
    for cell in ("fp32@torch_compile", "fp32@aot_inductor"):
        assert abs(summary.loc[cell, "accuracy"] - summary.loc["fp32", "accuracy"]) <= 0.001
    m = io.read_parquet(project / "results" / "energy" / "measurements.parquet")
    ok = m[(m.status == "ok") & m.sampler]
    assert {"onnxruntime", "torch_compile", "eager", "openvino"} <= set(ok.runtime)
    by_runtime = io.read_parquet(project / "results" / "stats" / "answer_runtimes.parquet")
    assert {"eager", "onnxruntime", "openvino"} <= set(by_runtime.runtime)
    ratios = io.read_parquet(project / "results" / "stats" / "ratios.parquet")
    assert {"int8_dynamic@onnxruntime", "fp32@torch_compile"} <= set(ratios.variant)
    points = io.read_parquet(project / "results" / "pareto" / "points.parquet")
    assert "onnxruntime" in set(points.runtime)
    # the best fp32 runtime differs by noise between torch_compile and aot_inductor: any fp32@runtime cell
    claims = (project / "results" / "paper" / "claims.md").read_text()
    assert re.search(r"runtime lever fp32@(torch_compile|aot_inductor)/fp32 = ", claims), claims


# the carbon table reads the measurements; the routing's served cell reads the energy and accuracy tables
DOWNSTREAM_OF_ENERGY = {
    "collect_energy": 1,
    "aggregate": 1,
    "carbon_table": 1,
    "pareto": 1,
    "answer": 1,
    "served_cell": 1,
    "simulate_schedule": 2,
    "figures": 1,
    "paper": 1,
    "all": 1,
}
# the smoke study's trials: 2 for every cell, then a third for the cells the stopping plan names
ALL_TRIALS = {"measure_energy": 3, "plan_energy": 1}
LATER_TRIALS = {"measure_energy": 1, "plan_energy": 1}  # the plan and the one trial after the first stage
DOWNSTREAM_OF_EVAL = {"eval_summary": 1, **ALL_TRIALS, **DOWNSTREAM_OF_ENERGY}
# trained variants of the smoke study that read the shared `recovery` block
RECOVERY_READERS = 6  # topk16_ft, prune_heads25, prune_heads50, prune_ffn25, magnitude50, spiking

RERUN_MATRIX = [
    # (config override, the dry run's jobs per rule: exactly these, no more, no fewer)
    # three first-stage trials: the cap (3) leaves no later trial, so trial 2 measures every cell, no plan
    ({"energy": {"trials": 3}}, {"measure_energy": 1, **DOWNSTREAM_OF_ENERGY}),
    # a higher cap: the plan again, the later trials (2, and the new 3), never the first stage
    ({"energy": {"stopping": {"max_trials": 4}}}, {"measure_energy": 2, "plan_energy": 1, **DOWNSTREAM_OF_ENERGY}),
    ({"energy": {"window_s": {"cpu": 0.4}}}, {**ALL_TRIALS, **DOWNSTREAM_OF_ENERGY}),
    (
        {"variants": {"recovery": {"learning_rate": 5.0e-5}}},
        {"build_variant": RECOVERY_READERS, "evaluate": RECOVERY_READERS, **DOWNSTREAM_OF_EVAL},
    ),
    ({"variants": {"spiking": {"time_steps": 2}}}, {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL}),
    # what recovery keeps: every recovering rewrite, not the teacher logits they share (the draw is unchanged)
    (
        {"variants": {"recovery": {"criterion": "accuracy"}}},
        {"build_variant": RECOVERY_READERS, "evaluate": RECOVERY_READERS, **DOWNSTREAM_OF_EVAL},
    ),
    # another draw: its teacher logits, and the rewrites reading it (spiking keeps its own draw of 128)
    (
        {"variants": {"recovery": {"train_subset": 96}}},
        {
            "teacher_logits": 1,
            "build_variant": RECOVERY_READERS - 1,
            "evaluate": RECOVERY_READERS - 1,
            **DOWNSTREAM_OF_EVAL,
        },
    ),
    # one rewrite's own override of the shared recovery: that rewrite only
    (
        {"variants": {"magnitude50": {"recovery": {"epochs": 1}}}},
        {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL},
    ),
    # whether emulated kernels run: the two recipes that need native ones (bf16, torchao int8), no build
    ({"variants": {"cpu_kernels": {"emulated": "measure"}}}, {"evaluate": 2, **DOWNSTREAM_OF_EVAL}),
    ({"variants": {"adaptive": {"tolerance": 0.01}}}, {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL}),
    # accuracy: no first-stage trial reads it; the stopping plan does (energy.stopping.contenders), so the later
    # trial follows it
    (
        {"evaluate": {"batch_size": 32}},
        {
            "evaluate": 22,  # 21 eager and runtime cells + int8_static@openvino
            "eval_summary": 1,
            **LATER_TRIALS,
            **DOWNSTREAM_OF_ENERGY,
        },
    ),
    # the dev subset: every evaluation and the later trial (its plan reads the accuracies), not a first-stage
    # trial; the routing reruns because it serves the answer's cell
    # (served_cell), chosen within answer.max_accuracy_loss_pts of fp32 on these accuracies (carbon.schedule.energy:
    # answer): a rerun legitimately (the served cell may change), not a params leak (wiring.simulate_schedule);
    (
        {"evaluate": {"dev_subset": 128}},
        {"evaluate": 22, "eval_summary": 1, **LATER_TRIALS, **DOWNSTREAM_OF_ENERGY},
    ),
    ({"study": {"variants": None}}, {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL}),  # + topk8_ft
    (
        {"carbon": {"forecast": {"tcn": {"epochs": 1}}}},
        {"forecast_carbon": 1, "forecast_hourly": 1, "simulate_schedule": 2, "figures": 1, "paper": 1, "all": 1},
    ),
    (
        {"carbon": {"schedule": {"start": "2022-02-02"}}},  # the router's window: no forecaster retrains
        {"forecast_hourly": 1, "simulate_schedule": 2, "figures": 1, "paper": 1, "all": 1},
    ),
    ({"carbon": {"schedule": {"pue": 1.5}}}, {"simulate_schedule": 2, "figures": 1, "paper": 1, "all": 1}),
    # a runtime's options: its cell's build, evaluation and the trials that measure it; no other cell
    ({"runtimes": {"onnxruntime": {"fuse": False}}}, {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL}),
    ({"runtimes": {"aot_inductor": {"freezing": False}}}, {"build_variant": 1, "evaluate": 1, **DOWNSTREAM_OF_EVAL}),
    ({"runtimes": {"torch_compile_cudagraphs": {"freezing": False}}}, {}),  # no such cell in the smoke study
    (
        {"stats": {"bootstrap": 200}},  # every statistic, the carbon table too (its intervals)
        {
            "aggregate": 1,
            "carbon_table": 1,
            "pareto": 1,
            "answer": 1,
            "served_cell": 1,
            "simulate_schedule": 2,
            "figures": 1,
            "paper": 1,
            "all": 1,
        },
    ),
    # a grid's intensity: the carbon table, the answer (its gCO2e) and the paper, nothing else: no other
    # statistic, no served cell or routing (the answer's cell is chosen on J/inference), no figure; only local
    # jobs rerun, so no footprint row changes and the footprint and amortization tables stay
    (
        {"stats": {"grid_intensities": {"DE": 400}}},
        {"carbon_table": 1, "answer": 1, "paper": 1, "all": 1, "footprint": 0, "amortize": 0},
    ),
    # the answer's traffic: the answer, its served cell and the routing that serves it, what shows them; no
    # trial, no statistic
    (
        {"answer": {"traffic": 3.0}},
        {"answer": 1, "served_cell": 1, "simulate_schedule": 2, "figures": 1, "paper": 1, "all": 1},
    ),
    # the accuracy bound: the stopping plan's contenders (so the later trial), the answer, its served cell and
    # routing, and the Pareto figure that draws it
    ({"answer": {"max_accuracy_loss_pts": 2.0}}, {**LATER_TRIALS, **DOWNSTREAM_OF_ENERGY}),
    # every cell short of the target continues: the plan and the later trial, never the first stage
    ({"energy": {"stopping": {"contenders": False}}}, {**LATER_TRIALS, **DOWNSTREAM_OF_ENERGY}),
    # the study's own footprint: its pricing grid and the amortization reread only the tables
    ({"footprint": {"zone": "FR"}}, {"figures": 1, "paper": 1, "all": 1}),
    ({"footprint": {"amortization": {"inferences": [100, 1000000]}}}, {"figures": 1, "paper": 1, "all": 1}),
    # order carries no meaning: the same cells listed in another order rerun nothing
    ({"study": {"variants": "reversed"}}, {}),
]
# every rerun compute job leaves a new footprint row: the footprint table and the amortization follow (a case
# where only local jobs rerun says footprint: 0, amortize: 0 itself)
COST = {"footprint": 1, "amortize": 1}


def _override(project: Path, override: dict) -> dict:
    import yaml

    if override.get("study", {}).get("variants", 1) is None:  # append a variant to the smoke study's list
        base = yaml.safe_load((project / "config" / "config.yaml").read_text())
        override = {"study": {"variants": base["study"]["variants"] + ["topk8_ft"]}}
    if override.get("study", {}).get("variants") == "reversed":  # the same cells in another order
        base = yaml.safe_load((project / "config" / "config.yaml").read_text())
        override = {"study": {"variants": base["study"]["variants"][::-1]}}
    return override


@pytest.mark.workflow
def test_rerun_matrix_a_config_edit_reruns_exactly_its_readers(smoke):
    """Each single config edit dry-runs to exactly the jobs that read the edited key and their
    dependents; the same config with its keys sorted reruns nothing."""
    import yaml

    project, env = smoke
    for override, expected in RERUN_MATRIX:
        override = _override(project, override)
        (project / "edit.yaml").write_text(yaml.safe_dump(override))
        dry = run(project, "-n", "--cores", "2", "--configfile", "config/smoke.yaml", "edit.yaml", env=env)
        assert dry.returncode == 0, dry.stderr[-3000:]
        counts = job_counts(dry.stdout + dry.stderr)
        expected = (
            {
                **COST,
                **expected,
                **({"footprint": 0} if "footprint" in override and "zone" not in override["footprint"] else {}),
            }
            if expected
            else {}
        )
        assert counts == {k: v for k, v in expected.items() if v}, (override, counts)
        if override == {"energy": {"trials": 3}}:
            assert "trial-2.parquet" in dry.stdout and "trial-0.parquet" not in dry.stdout.split("collect_energy")[0]
    # a YAML tool that sorts keys (and writes 3 as 3.0) must not rerun anything
    originals = {name: (project / "config" / name).read_text() for name in ("config.yaml", "smoke.yaml")}
    try:
        for name, text in originals.items():
            data = yaml.safe_load(text)
            energy = data.get("energy", {})
            if "min_iterations" in energy:
                energy["min_iterations"] = float(energy["min_iterations"])
            (project / "config" / name).write_text(yaml.safe_dump(data, sort_keys=True))
        dry = run(project, "-n", *SMOKE, env=env)
        assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
    finally:
        for name, text in originals.items():
            (project / "config" / name).write_text(text)


def _dry_run_after_editing(project: Path, env, module: str):
    """A dry run of the smoke study with one library module edited (then restored: later tests share
    this finished run)."""
    time.sleep(1.1)  # mtime resolution; Snakemake also compares checksums, so really edit the module
    path = project / "src" / "greenbench" / module
    original = path.read_text()
    path.write_text(original + "\n# edited by the rerun test\n")
    try:
        return run(project, "-n", *SMOKE, env=env)
    finally:
        path.write_text(original)


@pytest.mark.workflow
def test_smoke_then_nothing_to_do_then_exact_rerun(smoke):
    project, env = smoke
    again = run(project, "-n", *SMOKE, env=env)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout
    rerun = _dry_run_after_editing(project, env, "measure/energy/window.py")
    counts = job_counts(rerun.stdout + rerun.stderr)
    # window.py (one measured window) feeds measure_energy (3 trials) and the stopping plan (its time
    # estimate imports the trial, which imports the window); downstream of them: collect, aggregate,
    # the carbon table, pareto, the answer and its served cell, the schedule simulation (it uses the
    # measured J/inference), figures, paper
    assert counts == {
        **ALL_TRIALS,
        "collect_energy": 1,
        "aggregate": 1,
        "carbon_table": 1,
        "pareto": 1,
        "answer": 1,
        "served_cell": 1,
        "simulate_schedule": 2,
        "figures": 1,
        "paper": 1,
        "all": 1,
        **COST,
    }, rerun.stdout
    assert "finetune" not in counts and "evaluate" not in counts and "forecast_carbon" not in counts


@pytest.mark.workflow
def test_rerun_matrix_editing_one_recipe_module_reruns_only_its_cells(smoke):
    """Rerun matrix, code edits: a recipe family's module is an input of its own cells' build and
    evaluation jobs (and of the energy trials, which measure every cell together), not of the others'."""
    project, env = smoke
    rerun = _dry_run_after_editing(project, env, "cells/variants/spiking.py")
    out = rerun.stdout + rerun.stderr
    counts = job_counts(out)
    assert counts.get("build_variant") == 1 and counts.get("evaluate") == 1, out[-3000:]
    assert "spiking" in out
    assert "finetune" not in counts and "forecast_carbon" not in counts and "tokenize" not in counts


def _synthetic_intensity(zone_seed: int, start: str = "2021-01-01", end: str = "2023-01-01"):
    """Two years of hourly intensity with a daily shape, weekly swing and weather-like noise."""
    import numpy as np
    import pandas as pd

    t = pd.date_range(start, end, freq="h", inclusive="left")
    rng = np.random.default_rng(zone_seed)
    weather = np.convolve(rng.normal(0, 1, len(t)), np.ones(36) / 6, mode="same")
    ci = (
        300
        + 80 * np.sin(2 * np.pi * (t.hour - 6 - 3 * zone_seed) / 24)
        + 30 * (t.dayofweek < 5)
        + 25 * weather
        + 10 * zone_seed
    )
    return t, np.clip(ci, 20, None)


def test_a_carbon_only_run_on_a_users_traces_in_all_three_shapes(project):
    """Issue 18: a user's own grid, one zone per input shape (an Electricity Maps export under its own
    name, the long CSV, an EIA-930-style wide CSV), configured in a dozen lines, runs the carbon stage
    to the end with no inference job."""
    data = project / "mygrid"
    data.mkdir()
    t, ci = _synthetic_intensity(0)
    (data / "export.csv").write_text(
        "Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct)\n"
        + "".join(f"{ts:%Y-%m-%d %H:%M:%S},US-CAL-CISO,{v:.2f}\n" for ts, v in zip(t, ci))
    )
    t, ci = _synthetic_intensity(1)
    (data / "long.csv").write_text(
        "timestamp,zone,carbon_intensity_gco2_per_kwh\n"
        + "".join(f"{ts:%Y-%m-%dT%H:%M:%SZ},PACW,{v:.2f}\n" for ts, v in zip(t, ci))
    )
    t, ci = _synthetic_intensity(2)
    (data / "eia930.csv").write_text(
        "period,coal_mwh,gas_mwh,solar_mwh,co2_intensity_avg\n"
        + "".join(
            f"{ts:%Y-%m-%d %H:%M},0,{900 + i % 50},{100 * (ts.hour > 8)},{'' if i in (5000, 5001) else f'{v:.2f}'}\n"
            for i, (ts, v) in enumerate(zip(t, ci))
        )
    )
    user = (
        "carbon:\n"
        "  sources:\n"
        "    - {path: mygrid/export.csv, format: electricitymaps}\n"
        "    - {path: mygrid/long.csv, format: long}\n"
        "    - {path: mygrid/eia930.csv, format: wide, zone: ERCO, timestamp_column: period,\n"
        "       intensity_column: co2_intensity_avg}\n"
        "  zones: [US-CAL-CISO, PACW, ERCO]\n"
        "  schedule:\n"
        "    origin_shares: {US-CAL-CISO: 0.5, PACW: 0.2, ERCO: 0.3}\n"
        "    latency_ms: {US-CAL-CISO: {US-CAL-CISO: 5, PACW: 20, ERCO: 40}, PACW: {US-CAL-CISO: 20, PACW: 5,\n"
        "                 ERCO: 45}, ERCO: {US-CAL-CISO: 40, PACW: 45, ERCO: 5}}\n"
        "    scenarios: {west: {}}\n"
        "footprint: {zone: US-CAL-CISO}\n"
    )
    assert len(user.splitlines()) <= 14
    (project / "mygrid.yaml").write_text(user)
    # only to keep the test short: a smaller TCN and a shorter test period than the default's
    (project / "fast.yaml").write_text(
        "carbon:\n  forecast: {test_end: '2022-03-31', tcn: {channels: 8, levels: 3, kernel: 3, epochs: 1,"
        " batch_size: 256, learning_rate: 0.002, max_train_windows: 2000}}\n"
    )
    proc = run(project, "--cores", "2", "carbon", "--configfile", "config/carbon-only.yaml", "mygrid.yaml", "fast.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    counts = job_counts(out)
    assert counts.get("forecast_carbon") == 1 and counts.get("simulate_schedule") == 1
    assert not {"finetune", "build_variant", "evaluate", "measure_energy", "aggregate"} & set(counts)
    from greenbench.core import io
    from greenbench.carbon.routing import read_results

    traces_table = io.read_parquet(project / "results" / "carbon" / "traces.parquet")
    assert set(traces_table.zone) == {"US-CAL-CISO", "PACW", "ERCO"}
    assert traces_table[traces_table.zone == "ERCO"].interpolated.sum() == 2
    metrics_table = io.read_parquet(project / "results" / "carbon" / "forecast_metrics.parquet")
    assert set(metrics_table.zone) == {"US-CAL-CISO", "PACW", "ERCO"} and metrics_table.mape.notna().all()
    result = read_results(project / "results" / "carbon" / "schedule" / "west.parquet")
    assert result.g_per_1000_requests.notna().all() and set(result.scenario) == {"west"}
