"""The run's scratch folder (greenbench.core.scratch): named per project, free of spaces, where a workflow
job's temporaries go, and removed whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from greenbench.core import scratch
from greenbench.core.log import logged_script


def test_each_project_has_its_own_scratch_folder_whose_path_a_compiler_can_take(tmp_path):
    spaced = tmp_path / "My Projects" / "prøjekt 2"
    spaced.mkdir(parents=True)
    other = tmp_path / "prøjekt 2"
    other.mkdir()
    folder = scratch.run_folder(spaced, temp_root=tmp_path / "tmp")
    assert folder == scratch.run_folder(spaced, temp_root=tmp_path / "tmp")  # stable for one project
    assert folder != scratch.run_folder(other, temp_root=tmp_path / "tmp")  # same name, another clone
    assert folder.parent == tmp_path / "tmp"
    assert " " not in folder.name and folder.name.isascii() and folder.name.startswith("greenbench-pr")
    # a temp root with a space (compilers take its path unquoted) falls back to /tmp
    assert scratch.run_folder(spaced, temp_root=tmp_path / "a temp").parent == Path("/tmp")


def test_a_workflow_job_puts_its_temporaries_in_the_runs_scratch_and_only_while_it_runs(tmp_path, monkeypatch):
    run = tmp_path / "run-scratch"
    monkeypatch.setenv(scratch.ENV, str(run))
    monkeypatch.setenv("TMPDIR", "/somewhere/else")
    with logged_script(tmp_path / "job.log", "job"):
        made = Path(tempfile.mkdtemp(prefix="aotinductor_"))
        assert made.parent == run / "tmp"
        assert os.environ["TMPDIR"] == str(run / "tmp")  # subprocesses (g++) inherit it
    assert os.environ["TMPDIR"] == "/somewhere/else"
    assert tempfile.gettempdir() != str(run / "tmp")
    tempfile.tempdir = None
    assert made.is_dir()  # a killed job's leftovers stay until the next run clears the folder
    freed = scratch.clear(run)
    assert not run.exists() and freed == 0  # an empty folder frees no bytes
    assert scratch.clear(run) == 0


def test_outside_a_workflow_temporaries_go_where_they_always_went(tmp_path, monkeypatch):
    monkeypatch.delenv(scratch.ENV, raising=False)
    tempfile.tempdir = None
    before = tempfile.gettempdir()
    with scratch.job_temp() as folder:
        assert folder is None and tempfile.gettempdir() == before


def test_clearing_reports_the_bytes_a_killed_job_left(tmp_path):
    run = tmp_path / "run"
    (run / "tmp" / "aotinductor_x").mkdir(parents=True)
    (run / "tmp" / "aotinductor_x" / "model.so").write_bytes(b"\0" * 4096)
    (run / "tmp" / "greenbench-inductor-1").mkdir()
    (run / "tmp" / "greenbench-inductor-1" / "k.cpp").write_text("int main() {}\n")
    assert scratch.clear(run) == 4096 + len("int main() {}\n")
    assert not run.exists()
