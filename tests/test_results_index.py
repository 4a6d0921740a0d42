"""Housekeeping of what is under version control: every recorded run in benchmarks/results/ has a valid
run.json, index.md (and the README's answer block) is what those records generate, results folders hold results
only, each experiment folder has a README that names its results, and no temporary or cache file is tracked."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from greenbench.tools import results_index as ri

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
EXPERIMENTS = REPO / "experiments"
EXPERIMENT_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")
RESULTS_LINK = re.compile(r"benchmarks/results/([A-Za-z0-9._-]+)/")

SCRIPT_SUFFIXES = (".py", ".sh", ".bash", ".ipynb")
CACHE_DIRS = {
    "__pycache__",
    ".pytest_cache",
    ".snakemake",
    ".ipynb_checkpoints",
    ".hypothesis",
    ".ruff_cache",
    ".mypy_cache",
}
TEMPORARY_NAMES = {".DS_Store", "Thumbs.db"}
TEMPORARY_SUFFIXES = (".tmp", ".pyc", ".pyo", ".swp", ".swo", "~", ".bak", ".orig", ".rej")


def is_temporary(path: str) -> bool:
    """A temporary or cache file: in a cache folder (or an atomic writer's ``*.tmp`` folder, or an
    ``*.egg-info``), or named like an editor's, the OS's, Python's or an atomic writer's leftovers."""
    *folders, name = path.split("/")
    if any(f in CACHE_DIRS or f.endswith((".tmp", ".egg-info")) for f in folders):
        return True
    return name in TEMPORARY_NAMES or name.endswith(TEMPORARY_SUFFIXES)


def git_files(*args: str) -> list[str]:
    """``git ls-files ARGS`` in this checkout (skips the test where the tree is no git checkout of its own)."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pytest.skip("not a git checkout")
    if Path(top).resolve() != REPO:
        pytest.skip(f"{REPO} is not the top of its git checkout ({top})")
    out = subprocess.run(["git", "ls-files", "-z", *args], cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    return [name for name in out.decode().split("\0") if name]


def results_folders() -> set[str]:
    return {d.name for d in RESULTS.iterdir() if d.is_dir() and any(p.is_file() for p in d.rglob("*"))}


def test_every_results_folder_has_a_valid_run_json():
    folders = results_folders()
    assert folders, f"no run folders under {RESULTS}"
    for folder in sorted(folders):
        record = ri.read_run(RESULTS / folder)  # raises naming the folder and the field
        assert record["date"] in folder, f"{folder}: date {record['date']}"
        if record["superseded_by"] is not None:
            assert record["superseded_by"] in folders, f"{folder} is superseded by {record['superseded_by']}: no folder"
        if record["answer"]:  # the answer line(s) are lines of the folder's answer.md
            answer = (RESULTS / folder / "answer.md").read_text(encoding="utf-8").splitlines()
            for line in record["answer"].split("\n"):
                assert f"- {line}" in answer, f"{folder}: {line[:60]}… is not in its answer.md"
        if (RESULTS / folder / "SUPERSEDED.md").exists():
            assert record["status"] == "superseded", folder


def test_runs_are_consistent_and_the_index_is_what_they_generate():
    runs = ri.load_runs(RESULTS)  # superseded_by names another run; at most one current study per host class
    assert {r["folder"] for r in runs} == results_folders()
    assert (RESULTS / ri.INDEX).read_text(encoding="utf-8") == ri.index_text(runs), (
        "benchmarks/results/index.md is out of date: python -m greenbench results-index"
    )
    studies = ri.current_studies(runs)
    assert len({r["host_class"] for r in studies}) == len(studies) >= 1


def _record(folder: str, **changes) -> dict:
    record = dict.fromkeys(ri.FIELDS)
    record |= dict(folder=folder, date=folder[-10:], kind="study", status="current", host_class="Intel with AMX")
    record |= dict(host_class_source="given", what="w", produced_by="p")
    return record | changes


def test_the_records_checks_fail_where_they_should(tmp_path):
    ok = _record("a-2026-01-01")
    assert ri.validate(ok) == ok
    for bad in (
        {"date": "2026-1-1"},
        {"kind": "misc"},
        {"status": "superseded"},  # without superseded_by
        {"superseded_by": "b-2026-01-02"},  # while current
        {"wall_time_s": 10.0},  # without its source
        {"host_class": ""},
    ):
        with pytest.raises(ri.RunRecordError):
            ri.validate(ok | bad)
    with pytest.raises(ri.RunRecordError, match="unknown fields"):
        ri.validate(ok | {"extra": 1})
    with pytest.raises(ri.RunRecordError, match="no other recorded run"):
        ri.check_runs([_record("a-2026-01-01", status="superseded", superseded_by="gone-2026-01-01")])
    with pytest.raises(ri.RunRecordError, match="two current studies"):
        ri.check_runs([_record("a-2026-01-01"), _record("b-2026-01-02")])
    ri.check_runs([_record("a-2026-01-01"), _record("b-2026-01-02", host_class="AMD EPYC, no AMX")])
    ri.check_runs([_record("a-2026-01-01", kind="probe"), _record("b-2026-01-02")])
    for name in ("a-2026-01-01", "b-2026-01-02"):
        (tmp_path / name).mkdir()
        ri.write_run(_record(name), tmp_path / name)
    with pytest.raises(ri.RunRecordError, match="two current studies"):
        ri.load_runs(tmp_path)
    ri.supersede(tmp_path, "a-2026-01-01", "b-2026-01-02")
    assert [r["folder"] for r in ri.load_runs(tmp_path)] == ["b-2026-01-02", "a-2026-01-01"]
    (tmp_path / "c-2026-01-03").mkdir()
    (tmp_path / "c-2026-01-03" / "x.csv").write_text("a\n")
    with pytest.raises(ri.RunRecordError, match="missing"):
        ri.load_runs(tmp_path)


@pytest.mark.parametrize(
    "path",
    [
        "src/greenbench/__pycache__/io.cpython-311.pyc",
        ".snakemake/log/x.log",
        "a/.ipynb_checkpoints/b-checkpoint.ipynb",
        "results/.x.parquet.k2j1.tmp",
        "results/.models.abc.tmp/config.json",
        "docs/notes.md~",
        "benchmarks/.DS_Store",
        "x.pyc",
        "src/greenbench.egg-info/PKG-INFO",
        ".pytest_cache/v/cache/lastfailed",
    ],
)
def test_temporaries_are_recognised_and_ignored(path):
    assert is_temporary(path)
    try:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, timeout=60).returncode
    except OSError:
        pytest.skip("no git")
    assert ignored in (0, 128), f".gitignore does not cover {path}"  # 128: no git checkout here


@pytest.mark.parametrize(
    "path",
    [
        "benchmarks/results/cpu-laptop-2026-11-25/trial-0.log",
        "src/greenbench/core/io.py",
        "resources/README.md",
        "benchmarks/results/x/summary.md",
    ],
)
def test_results_and_sources_are_not_temporaries(path):
    assert not is_temporary(path)


def test_results_folders_hold_results_only():
    files = git_files("--", "benchmarks/results")
    scripts = [f for f in files if f.endswith(SCRIPT_SUFFIXES)]
    assert not scripts, f"code belongs in experiments/<date>-<topic>/, not in a results folder: {scripts}"
    temporaries = [f for f in files if is_temporary(f)]
    assert not temporaries, f"temporary or cache files under benchmarks/results: {temporaries}"


def test_no_temporary_or_cache_file_is_tracked():
    tracked = git_files()
    temporaries = [f for f in tracked if is_temporary(f)]
    assert not temporaries, f"temporary or cache files under version control (git rm --cached them): {temporaries}"
    ignored = git_files("--cached", "--ignored", "--exclude-standard")
    assert not ignored, f"tracked files that .gitignore ignores: {ignored}"


def test_each_experiment_has_a_readme_naming_its_results():
    folders = results_folders()
    experiments = sorted(d for d in EXPERIMENTS.iterdir() if d.is_dir() and d.name != "__pycache__")
    assert experiments, f"no experiment folders under {EXPERIMENTS}"
    for d in experiments:
        assert EXPERIMENT_NAME.match(d.name), f"{d.name}: name it <YYYY-MM-DD>-<topic>"
        readme = d / "README.md"
        assert readme.is_file(), f"{d.name} has no README.md"
        text = readme.read_text(encoding="utf-8")
        linked = set(RESULTS_LINK.findall(text))
        assert linked <= folders, f"{d.name}/README.md names results folders that do not exist: {linked - folders}"
        if not linked:
            assert "no results folder" in text.lower(), f"{d.name}/README.md links no benchmarks/results/<run>/"
        else:
            assert any(d.name[:10] in name for name in linked), f"{d.name}: no linked results folder of its date"


def test_no_script_edits_sys_path():
    for script in [*EXPERIMENTS.rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]:
        assert "sys.path" not in script.read_text(encoding="utf-8"), (
            f"{script.relative_to(REPO)}: import the installed package (make install), not a path"
        )


def test_a_superseded_study_loses_its_figures_but_those_docs_show_and_its_crate_forgets_them(tmp_path):
    import json

    folder = tmp_path / "benchmarks" / "results" / "old-2026-01-01"
    folder.mkdir(parents=True)
    for name in ("a.png", "shown.png", "table.csv"):
        (folder / name).write_text(name)
    crate = {
        "@graph": [
            {"@id": "#run", "result": [{"@id": "a.png"}, {"@id": "shown.png"}, {"@id": "table.csv"}]},
            {"@id": "a.png", "@type": "File"},
            {"@id": "shown.png", "@type": "File"},
            {"@id": "table.csv", "@type": "File"},
        ]
    }
    (folder / "ro-crate-metadata.json").write_text(json.dumps(crate))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("![f](../benchmarks/results/old-2026-01-01/shown.png)")
    keep = ri.shown_in_docs(tmp_path)
    assert keep == {(folder / "shown.png").resolve()}
    assert ri.drop_figures(folder, keep) == ["a.png"]
    assert not (folder / "a.png").exists() and (folder / "shown.png").exists() and (folder / "table.csv").exists()
    graph = json.loads((folder / "ro-crate-metadata.json").read_text())["@graph"]
    assert [e["@id"] for e in graph] == ["#run", "shown.png", "table.csv"]
    assert graph[0]["result"] == [{"@id": "shown.png"}, {"@id": "table.csv"}]


def test_the_runtime_section_of_an_answer_is_quoted_verbatim_and_only_where_it_exists():
    md = (
        "# The study's answer\n\n- **cpu / m** at 1 requests/s: **run `x`**\n\n"
        "Every runtime's greenest qualifying cell at the configured traffic (sentences/s at the mean batch):\n\n"
        "| device / model | runtime |\n|---|---|\n| cpu / m | eager |\n\nComposed recipes, cpu / m: ratio.\n\n"
        "Where and when to run it (routing):\n\n- **europe**, cpu: less.\n"
    )
    assert ri.runtime_lines(md) == [
        "| device / model | runtime |",
        "|---|---|",
        "| cpu / m | eager |",
        "",
        "Composed recipes, cpu / m: ratio.",
    ]
    assert ri.runtime_lines("# The study's answer\n\n- **cpu / m**: x\n") == []
