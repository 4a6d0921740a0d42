"""Two cells of the smoke study through the SLURM profile on a real (one-node, localhost) SLURM cluster.

Start the cluster first: ``tests/slurm/cluster.sh start`` (CI does). Without a reachable controller
the test is skipped, unless GREENBENCH_REQUIRE_SLURM=1 (set by .ci/run), where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from conftest import copy_tree, run

SLURM_CONF = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
# Site options a cluster without accounting storage needs; everything else comes from the profile.
PROFILE = ("--workflow-profile", "workflow/profiles/slurm", "--configfile", "config/smoke.yaml", "slurm-subset.yaml")
# Two of the smoke study's cells: every rule still goes through sbatch (fine-tune, build, evaluate, the
# energy trials, the forecasters, statistics, figures) at a fifth of the smoke run's time; the local smoke
# run is the reference they must equal.
SUBSET = "study: {variants: [fp32, int8_dynamic], runtimes: {}}\n"
SITE = (
    "--slurm-status-command",
    "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--slurm-keep-successful-logs",
)


def controller_up() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one can."""
    if shutil.which("sinfo") is None:
        return "sinfo not installed"
    proc = subprocess.run(
        ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env={**os.environ, "SLURM_CONF": SLURM_CONF}
    )
    states = proc.stdout.split()
    if proc.returncode != 0 or not {"idle", "mixed", "allocated"} & set(states):
        return f"no idle SLURM node (sinfo: {proc.stderr.strip() or states})"
    return None


@pytest.fixture(scope="module")
def cluster():
    why = controller_up()
    if why:
        if os.environ.get("GREENBENCH_REQUIRE_SLURM") == "1":
            pytest.fail(f"GREENBENCH_REQUIRE_SLURM=1 but {why}; start one with tests/slurm/cluster.sh start")
        pytest.skip(f"{why}; start one with tests/slurm/cluster.sh start")
    return {"SLURM_CONF": SLURM_CONF}


@pytest.mark.workflow
@pytest.mark.slurm
def test_smoke_study_on_slurm_matches_local_run(cluster, smoke, tmp_path):
    import pandas as pd

    local_root, env = smoke
    project = copy_tree(tmp_path)
    (project / "slurm-subset.yaml").write_text(SUBSET)
    started = time.monotonic()
    proc = run(project, *PROFILE, "--jobs", "4", *SITE, env={**env, **cluster}, timeout=2400)
    print(f"SLURM smoke run took {time.monotonic() - started:.1f} s")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    # the compute jobs went through sbatch: SLURM keeps a log per job, .snakemake/slurm_logs/rule_<rule>/.../<id>.log
    logs = project / ".snakemake" / "slurm_logs"
    rules = {p.relative_to(logs).parts[0] for p in logs.rglob("*.log")}
    assert {"rule_finetune", "rule_evaluate", "rule_measure_energy", "rule_forecast_carbon"} <= rules, rules

    # the same accuracies as the local run, variant by variant
    key = ["device", "model", "variant"]
    slurm = pd.read_parquet(project / "results" / "eval" / "summary.parquet").set_index(key).sort_index()
    local = pd.read_parquet(local_root / "results" / "eval" / "summary.parquet").set_index(key).sort_index()
    assert list(slurm.index.get_level_values("variant")) == ["fp32", "int8_dynamic"]
    local = local.loc[slurm.index]
    pd.testing.assert_series_equal(slurm.status, local.status)
    pd.testing.assert_series_equal(slurm.accuracy, local.accuracy)

    # energy labelled, every trial present, and the paper outputs there
    energy = pd.read_parquet(project / "results" / "energy" / "measurements.parquet")
    assert {0, 1} <= set(energy.trial) <= {0, 1, 2}  # trial 2: the cells sequential stopping named
    assert energy.energy_label.isin(["measured", "estimated", "unavailable"]).all()
    assert (project / "results" / "paper" / "claims.md").stat().st_size > 0
    # and a rerun has nothing to do
    again = run(project, "-n", *PROFILE, *SITE, env={**env, **cluster})
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
