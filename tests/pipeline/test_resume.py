"""Resume after ``kill -9``, leftovers swept, and a clone whose path holds spaces and non-ASCII letters.

Each test works on a copy of the finished smoke study (results and Snakemake's metadata included), so an
interrupted job and its resume are compared with the uninterrupted run's outputs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import run

pytestmark = pytest.mark.workflow

CONFIG = ("--configfile", "config/smoke.yaml")
# docs/reproducibility.md: force one stage; after a kill, unlock once, then the study's own command
FORCE_ONE_STAGE = ("--cores", "1", *CONFIG, "--forcerun")
RESUME = ("--cores", "2", *CONFIG)
UNLOCK = ("--unlock", *CONFIG)
# outputs that record when and how long a job ran (its energy window), and columns that time a job: they
# differ between any two runs
TIMED = ("results/footprint/", "results/stats/footprint.parquet", "results/stats/amortization")
TIMED_COLUMNS = ["eval_seconds"]


def _copy(project: Path, dest: Path) -> Path:
    shutil.copytree(project, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "locks"))
    return dest


def _outputs(root: Path) -> dict[str, Path]:
    """Every Parquet file the study wrote under results/, by its relative path."""
    return {str(p.relative_to(root)): p for p in sorted((root / "results").rglob("*.parquet"))}


def _same_frames(a: Path, b: Path) -> bool:
    left, right = (pd.read_parquet(p).drop(columns=TIMED_COLUMNS, errors="ignore") for p in (a, b))
    return left.equals(right)


def _kill_while_running(root: Path, env: dict, rule: str, watched: str, delay_s: float) -> None:
    """Start the README's force-one-stage command for ``rule`` (a rule or one of its files), wait until
    Snakemake has started the job that writes ``watched`` (it removes a job's outputs as the job starts),
    let it run ``delay_s`` more, then SIGKILL the whole process group (Snakemake and the job)."""
    log = (root / f"killed-{Path(rule).stem}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *FORCE_ONE_STAGE, rule],
        cwd=root,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    target = root / watched
    deadline = time.monotonic() + 600
    try:
        while target.exists():
            assert proc.poll() is None, f"{rule}: the run ended before {watched} was rewritten"
            assert time.monotonic() < deadline, f"{rule}: {watched} was never started"
            time.sleep(0.02)
        time.sleep(delay_s)
        assert proc.poll() is None, f"{rule}: finished before the kill (make delay_s shorter)"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def test_kill_9_mid_job_then_the_documented_resume_rebuilds_every_output_as_uninterrupted(smoke, tmp_path):
    """Three mid-write kills (the statistics, the hourly forecasts, the figures), each resumed as documented;
    before the last resume, leftovers of killed writers are planted under results/ and in the run's scratch
    folder: the run removes them all. (Not an evaluation: the stopping plan reads the accuracies
    (energy.stopping.contenders), so a redone evaluation re-measures the later energy trial, whose numbers
    differ from the reference's by noise; the rerun matrix checks that it does.)"""
    from greenbench.core.scratch import run_folder

    project, env = smoke
    reference = _outputs(project)
    root = _copy(project, tmp_path / "study")
    scratch = run_folder(root)
    planted = [
        root / "results" / "eval" / "cpu" / "minilm" / ".fp32.parquet.k3j2.tmp",
        root / "results" / "figures" / ".pareto_accuracy_energy.png.x8q.tmp",
        root / "results" / "variants" / "cpu" / "minilm" / ".fp32@aot_inductor.7hq1.tmp" / "model.pt2",
        scratch / "tmp" / "aotinductor_abc" / "kernels.so",
    ]
    stages = (
        ("aggregate", "results/stats/energy.parquet", 0.5),
        ("forecast_hourly", "results/carbon/forecasts_hourly.parquet", 0.5),
        ("figures", "results/figures/pareto_accuracy_energy.png", 0.3),
    )
    try:
        for n, (rule, watched, delay_s) in enumerate(stages):
            _kill_while_running(root, env, rule, watched, delay_s)
            assert not (root / watched).exists(), f"{rule}: the killed job's output is gone until the resume"
            unlock = run(root, *UNLOCK, env=env)
            assert unlock.returncode == 0, unlock.stderr[-2000:]
            if n == len(stages) - 1:
                for path in planted:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"half-written")
            resumed = run(root, *RESUME, env=env)
            assert resumed.returncode == 0, resumed.stderr[-4000:]
            assert (root / watched).is_file(), f"{rule}: the resume did not rebuild {watched}"
            summary = run(root, "--summary", *CONFIG, env=env)
            missing = [line for line in summary.stdout.splitlines() if "\tmissing" in line or " missing " in line]
            assert not missing, missing[:5]
        assert "removed 3 leftover temporaries" in resumed.stdout + resumed.stderr
        assert not [p for p in planted if p.exists()] and not planted[2].parent.exists()
        assert not scratch.exists(), "the run's scratch folder stays after a successful run"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    again = run(root, "-n", *RESUME, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]
    resumed_outputs = _outputs(root)
    assert set(resumed_outputs) == set(reference), set(reference) ^ set(resumed_outputs)
    differ = [
        name
        for name, path in resumed_outputs.items()
        if not name.startswith(TIMED) and not _same_frames(path, reference[name])
    ]
    assert not differ, differ


def test_a_clone_under_a_path_with_spaces_and_non_ascii_letters_runs_its_jobs(smoke, tmp_path):
    """The interpreter under such a path (its environment inside the clone) runs the scripts; a torch.compile
    build from such a clone compiles (its kernels are built outside results/) and its cell is evaluated."""
    project, env = smoke
    root = _copy(project, tmp_path / "My Prøjects" / "green bench")
    reference = _outputs(project)
    # an environment inside the clone: its interpreter's path holds the spaces
    (root / "venv link").symlink_to(Path(sys.prefix), target_is_directory=True)
    python = root / "venv link" / "bin" / Path(sys.executable).name
    tokens = "results/tokens/minilm/dev.parquet"
    inside = subprocess.run(
        [str(python), "-m", "snakemake", *RESUME, "--forcerun", "tokenize", "--", tokens],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert inside.returncode == 0, inside.stderr[-3000:]
    assert _same_frames(root / tokens, reference[tokens])
    # a torch.compile cell built and evaluated from the spaced clone (torch itself installed elsewhere:
    # its compiler cannot take its own install path with spaces, see Makefile VENV)
    cell = "results/eval/cpu/minilm/fp32@torch_compile.parquet"
    built = run(root, *RESUME, "--forcerun", "build_variant", "--", cell, env=env)
    assert built.returncode == 0, built.stderr[-3000:]
    status = (root / "results/variants/cpu/minilm/fp32@torch_compile/runtime.json").read_text()
    assert '"status": "ok"' in status, status
    evaluated = pd.read_parquet(root / cell)
    assert evaluated.prediction.tolist() == pd.read_parquet(reference[cell]).prediction.tolist()
