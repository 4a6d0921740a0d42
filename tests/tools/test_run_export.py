"""benchmarks/export_run.py's library (greenbench.tools.run_export, run_crate): a small fake results/ tree becomes
a run folder with run.json and a Workflow Run RO-Crate, supersedes the host class's older study, and the index and
the README's answer block follow. No network: the crate is read back with ``rocrate`` and checked against the
profiles' required entities, and validated by roc-validator (the ``test`` extra) against the Workflow Run Crate
profile at the REQUIRED level, with the RO-Crate JSON-LD context served from tests/tools/data and sockets refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from greenbench.core import host, io
from greenbench.tools import results_index as ri
from greenbench.tools import run_crate, run_export

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EPYC = "vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_vnni avx512_bf16\n"
ANSWER = (
    "- **cpu / minilm: `int8_dynamic@onnxruntime` at batch 8** (dynamic padding, eager): accuracy 0.8704 (-0.80 pts "
    "vs fp32), p95 40.3 ms, **0.0811 J/inference** [0.0712, 0.0919] (estimated)."
)


def _parquet(path: Path, df: pd.DataFrame, meta: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    io.write_parquet(df, path, pa.Schema.from_pandas(df, preserve_index=False), meta)


def fake_results(root: Path, data: Path, answer_md: bool = True) -> Path:
    """A finished run's results/ tree, tiny: the required tables, an answer, a figure, one energy trial with
    its provenance (an AMD EPYC fingerprint), the SST-2 and carbon inputs' checksums, two benchmark files."""
    results = root / "results"
    small = pd.DataFrame({"variant": ["fp32", "int8_dynamic"], "value": [1.0, 0.7]})
    for rel in run_export.TABLES.values():
        _parquet(results / rel, small)
    answer = pd.DataFrame(
        {
            "device": ["cpu"],
            "model": ["minilm"],
            "traffic_rps": [10.0],
            "variant": ["int8_dynamic"],
            "runtime": ["onnxruntime"],
            "batch_size": [8],
            "padding": ["dynamic"],
            "mode": ["eager"],
            "j_per_inf": [0.0811],
            "j_low": [0.0712],
            "j_high": [0.0919],
            "energy_label": ["estimated"],
            "request_p95_ms": [40.3],
            "accuracy": [0.8704],
            "loss_pts": [0.8],
        }
    )
    _parquet(results / "stats" / "answer.parquet", answer)
    (results / "paper").mkdir(parents=True)
    for name in ("claims.md", "tables.md"):
        (results / "paper" / name).write_text(f"# {name}\n")
    if answer_md:
        (results / "paper" / "answer.md").write_text(f"# The study's answer\n\nIntro.\n\n{ANSWER}\n")
    (results / "figures").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 6), (200, 30, 30)).save(results / "figures" / "pareto_accuracy_energy.png")
    fp = host.fingerprint(2, cpuinfo=EPYC, machine="x86_64", rapl=False, gpu=(None, None, 0))
    meta = {"git_commit": "unknown", "config_hash": "abcdef0123456789", "versions": {"python": "3.11"}}
    meta |= {"host_fingerprint": fp, "host_class": host.host_class(fp), "threads": 2}
    _parquet(results / "energy" / "cpu" / "minilm" / "trial-0.parquet", small, meta)
    (data / "sst2").mkdir(parents=True)
    (data / "carbon").mkdir()
    for split in ("train", "dev"):
        tsv = data / "sst2" / f"{split}.tsv"
        tsv.write_text("sentence\tlabel\nok\t1\n")
        digest = run_crate.provenance.file_sha256(tsv)
        _parquet(results / "data" / "sst2" / f"{split}.parquet", small, {"source": str(tsv), "source_sha256": digest})
    (data / "carbon" / "DE_2021.csv").write_text("timestamp,ci\n2021-01-01T00:00Z,300\n")
    csv = str(data / "carbon" / "DE_2021.csv")
    _parquet(results / "carbon" / "traces.parquet", small, {"files": [csv], "sha256": {csv: "0" * 64}})
    for rule, seconds in (("finetune", 100.5), ("measure_energy", 200.0)):
        (results / "benchmarks" / rule).mkdir(parents=True)
        (results / "benchmarks" / rule / "x.tsv").write_text(f"s\th:m:s\n{seconds}\t0:01:40\n")
    return results


def recorded_root(root: Path) -> Path:
    """A recorded-runs root with the real AMD EPYC study's run.json (and a README with the answer markers)."""
    runs = root / "benchmarks" / "results"
    old = runs / "cpu-default-2026-11-22-remeasured"
    old.mkdir(parents=True)
    record = json.loads((ROOT / "benchmarks" / "results" / old.name / "run.json").read_text())
    record.update(status="current", superseded_by=None)  # as it was before the run that superseded it
    (old / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    (root / "README.md").write_text(f"# x\n\nProse before.\n\n{ri.BEGIN}\nold\n{ri.END}\n\nProse after.\n")
    return runs


def test_a_plain_results_tree_is_exported_indexed_and_supersedes(tmp_path):
    results = fake_results(tmp_path, tmp_path / "data")
    runs = recorded_root(tmp_path)
    out = runs / "cpu-epyc-2026-12-06"
    run = run_export.export_run(
        results,
        out,
        configs=[ROOT / "config" / "config.yaml"],
        supersedes=["benchmarks/results/cpu-default-2026-11-22-remeasured/"],
        repo=ROOT,
        readme=tmp_path / "README.md",
    )
    assert run["host_class"] == "AMD EPYC, no AMX (AVX512-BF16, VNNI)" and run["host_class_source"] == "fingerprint"
    assert run["host"] == "AMD without AMX (AVX512-BF16, VNNI); 2 threads; RAPL not readable"
    assert run["commit"] is None and run["config_hash"] == "abcdef0123456789" and run["date"] == "2026-12-06"
    assert run["wall_time_s"] == 300.5 and "benchmark" in run["wall_time_source"]
    assert run["answer"] == ANSWER[2:]
    assert ri.read_run(out) == run
    for name in ("answer.csv", "answer.md", "energy_stats.csv", "claims.md", "pareto_accuracy_energy.png"):
        assert (out / name).is_file(), name
    assert pd.read_csv(out / "answer.csv").j_per_inf.tolist() == [0.0811]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["host_class"] == "AMD without AMX (AVX512-BF16, VNNI)" and provenance["config_hash"]
    old = ri.read_run(runs / "cpu-default-2026-11-22-remeasured")
    assert old["status"] == "superseded" and old["superseded_by"] == out.name
    index = (runs / "index.md").read_text()
    assert "`cpu-epyc-2026-12-06/`" in index and "superseded by `cpu-epyc-2026-12-06`" in index
    readme = (tmp_path / "README.md").read_text()
    assert "Prose before." in readme and "Prose after." in readme and "\nold\n" not in readme
    assert f"`benchmarks/results/{out.name}/answer.md`):\n\n{ANSWER}\n" in readme
    assert "cpu-default-2026-11-22-remeasured" not in readme  # a superseded study is no longer quoted
    assert ri.regenerate(runs, tmp_path / "README.md", check=True) == []


def test_without_answer_md_the_answer_comes_from_answer_parquet_and_a_missing_one_is_no_failure(tmp_path):
    results = fake_results(tmp_path, tmp_path / "data", answer_md=False)
    line = run_export.answer_text(results)
    assert line.startswith("**cpu / minilm: `int8_dynamic@onnxruntime` at batch 8** (dynamic padding, eager)")
    assert (
        "accuracy 0.8704 (-0.80 pts vs fp32)" in line and "**0.0811 J/inference** [0.0712, 0.0919] (estimated)" in line
    )
    (results / "stats" / "answer.parquet").unlink()
    assert run_export.answer_text(results) is None
    out = tmp_path / "runs" / "cpu-x-2026-12-07"
    run = run_export.export_run(results, out, configs=[], repo=ROOT, crate=False, wall_time_s=60.0)
    assert run["answer"] is None and not (out / "answer.csv").exists() and run["wall_time_source"].startswith("given")
    (results / "stats" / "energy.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="energy.parquet"):
        run_export.copy_outputs(results, tmp_path / "again")


def test_the_study_host_class_from_a_fingerprint():
    def fp(cpuinfo, gpu=(None, None, 0)):
        return host.fingerprint(2, cpuinfo=cpuinfo, machine="x86_64", rapl=False, gpu=gpu)

    intel = "vendor_id\t: GenuineIntel\nmodel name\t: Intel Xeon\nflags\t\t: avx2 avx512_vnni"
    assert run_export.study_host_class(fp(EPYC)) == "AMD EPYC, no AMX (AVX512-BF16, VNNI)"
    # the same CPU family as a guest that sees AVX2 only is another class: its int8 kernels differ
    assert run_export.study_host_class(fp(EPYC.replace(" avx512_vnni avx512_bf16", ""))) == "AMD EPYC, no AMX (AVX2)"
    assert run_export.study_host_class(fp(intel)) == "Intel without AMX (AVX512-VNNI)"
    assert run_export.study_host_class(fp(intel + " amx_tile amx_bf16")) == "Intel with AMX"
    assert (
        run_export.study_host_class(fp(intel, ("NVIDIA H100", "550", 1)))
        == "Intel without AMX (AVX512-VNNI) + NVIDIA H100"
    )
    assert run_export.study_host_class(fp(None)) == "Unknown CPU, ISA unknown"  # never guessed


def _ids(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.id if hasattr(v, "id") else v["@id"] if isinstance(v, dict) else v for v in values]


def exported_crate(tmp_path: Path) -> Path:
    results = fake_results(tmp_path, tmp_path / "data")
    out = tmp_path / "runs" / "cpu-epyc-2026-12-06"
    run_export.export_run(results, out, configs=[ROOT / "config" / "config.yaml"], repo=ROOT, wall_time_s=1500.0)
    return out


def test_the_run_folder_is_a_workflow_run_crate(tmp_path):
    from rocrate.rocrate import ROCrate

    out = exported_crate(tmp_path)
    crate = ROCrate(out)
    assert crate.version == "1.1"
    assert set(_ids(crate.metadata["conformsTo"])) >= {
        "https://w3id.org/ro/crate/1.1",
        "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
    }
    profiles = _ids(crate.root_dataset["conformsTo"])
    assert set(profiles) == set(run_crate.PROFILES)
    for uri in profiles:  # the profiles are CreativeWork entities (Workflow Run Crate, MUST)
        assert crate.get(uri).type == "CreativeWork"
    assert crate.root_dataset["license"].id == run_crate.LICENSE and crate.root_dataset["name"]
    workflow = crate.mainEntity
    assert workflow.id == "workflow/Snakefile" and (out / "workflow" / "Snakefile").is_file()
    assert set(workflow.type) == {"File", "SoftwareSourceCode", "ComputationalWorkflow"}
    assert "snakemake" in workflow["programmingLanguage"].id.lower()
    assert all((out / rule).is_file() for rule in _ids(workflow["hasPart"]))
    (action,) = [e for e in crate.get_entities() if e.type == "CreateAction"]
    assert _ids(crate.root_dataset["mentions"]) == [action.id]
    assert action["instrument"].id == workflow.id  # Workflow Run Crate, MUST
    objects = {o.id: o for o in action["object"]}
    assert "config/config.yaml" in objects and (out / "config" / "config.yaml").is_file()
    inputs = [o for o in objects.values() if o.id.startswith("#input-")]
    assert sorted(o["name"] for o in inputs) == ["DE_2021.csv", "dev.tsv", "train.tsv"]
    assert all(len(o["sha256"]) == 64 and "recorded by the run" in o["description"] for o in inputs)
    assert not any((out / o["name"]).exists() for o in inputs)  # named by checksum, not copied
    results = {r.id: r for r in action["result"]}
    assert {"answer.md", "answer.csv", "energy_stats.csv", "provenance.json"} <= set(results)
    assert "run.json" not in results and run_crate.METADATA not in results
    for rel, entity in results.items():
        assert entity["sha256"] == run_crate.provenance.file_sha256(out / rel), rel
    end = pd.Timestamp(action["endTime"])
    assert end - pd.Timestamp(action["startTime"]) == pd.Timedelta(seconds=1500)
    values = {v["name"]: v["value"] for v in action["additionalProperty"]}
    assert values["host class"] == "AMD EPYC, no AMX (AVX512-BF16, VNNI)" and values["wall time"] == 1500.0
    assert action["agent"]["name"] and action["actionStatus"]


def test_the_workflow_is_copied_as_of_the_runs_commit(tmp_path):
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files, source = run_crate.copy_workflow(ROOT, head.stdout.strip(), tmp_path)
    assert "workflow/Snakefile" in files and any(f.endswith(".smk") for f in files) and source.startswith("git show")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", "HEAD:workflow/Snakefile"], capture_output=True, text=True)
    assert (tmp_path / "workflow" / "Snakefile").read_text() == shown.stdout
    files, source = run_crate.copy_workflow(ROOT, "0" * 40, tmp_path / "b")  # not in the checkout: its files
    assert "checkout at export time" in source and (tmp_path / "b" / "workflow" / "Snakefile").is_file()


def test_unrecorded_input_checksums_are_computed_from_the_mirror_and_say_so(tmp_path):
    data = tmp_path / "data"
    results = fake_results(tmp_path, data)
    for rel in ("data", "carbon"):
        shutil.rmtree(results / rel)
    assert run_crate.recorded_inputs(results) == []
    inputs = run_crate.mirror_inputs(data)
    assert [Path(i["path"]).name for i in inputs] == ["train.tsv", "dev.tsv", "DE_2021.csv"]
    assert inputs[0]["sha256"] == run_crate.provenance.file_sha256(data / "sst2" / "train.tsv")
    assert all("$GREENBENCH_DATA" in i["checksum_source"] for i in inputs)


CONTEXTS = {"https://w3id.org/ro/crate/1.1/context": DATA / "ro-crate-1.1-context.jsonld"}  # see data/README.md


class VendoredContexts:
    """roc-validator's HTTP session in the test: the JSON-LD contexts from tests/tools/data, a 504 (its offline
    cache miss) for any other URL, which it records."""

    cache = None

    def __init__(self):
        self.served, self.missed = [], []

    def get(self, url, **_kwargs):
        import requests

        response = requests.Response()
        response.url, response.status_code = url, 504
        if url in CONTEXTS:
            response.status_code, response._content = 200, CONTEXTS[url].read_bytes()
            response.headers["Content-Type"] = "application/ld+json"
            self.served.append(url)
        else:
            self.missed.append(url)
        return response

    head = get

    def close(self):
        pass


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection or name lookup fails the test."""
    import socket

    def refuse(*args, **_kwargs):
        raise AssertionError(f"the test opened a network connection: {args}")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _validate(out: Path, tmp_path: Path, monkeypatch):
    from rocrate_validator import models, services
    from rocrate_validator.utils.document_loader import uninstall_document_loader
    from rocrate_validator.utils.http import HttpRequester

    settings = services.ValidationSettings(  # offline: no warm-up; its HTTP cache in tmp_path, not ~/.cache
        rocrate_uri=str(out),
        profile_identifier="workflow-run-crate",
        requirement_severity=models.Severity.REQUIRED,
        offline=True,
        cache_path=tmp_path / "roc-validator-cache",
    )
    session = VendoredContexts()
    monkeypatch.setattr(HttpRequester(), "session", session)  # the singleton every fetch goes through
    try:
        result = services.validate(settings)
    finally:
        uninstall_document_loader()  # settings put its loader into rdflib's JSON-LD parser
    assert session.missed == [], f"roc-validator fetched {sorted(set(session.missed))}: vendor them in tests/tools/data"
    assert session.served, "the RO-Crate context was not fetched: is the check still run?"
    return result


def test_roc_validator_accepts_the_crate_offline(tmp_path, monkeypatch, no_network):
    pytest.importorskip("rocrate_validator")
    out = exported_crate(tmp_path)
    result = _validate(out, tmp_path, monkeypatch)
    assert [issue.message for issue in result.get_issues()] == [] and result.passed()
    profiles = {check.requirement.profile.identifier for check in result.executed_checks}
    assert {"ro-crate-1.1", "workflow-ro-crate-1.0", "process-run-crate-0.5", "workflow-run-crate-0.5"} <= profiles

    # and it does reject: a key the context does not define, a run without its workflow (both MUST)
    metadata = out / run_crate.METADATA
    crate = json.loads(metadata.read_text())
    crate["@context"] = crate["@context"][0]
    for entity in crate["@graph"]:
        entity.pop("instrument", None)
    metadata.write_text(json.dumps(crate))
    messages = " | ".join(issue.message for issue in _validate(out, tmp_path, monkeypatch).get_issues())
    assert '"sha256"' in messages and "instrument" in messages, messages


def test_each_committed_current_study_with_a_crate_is_valid(tmp_path, monkeypatch, no_network):
    """The crate of every current study folder under benchmarks/results (the run a reader cites) passes
    roc-validator's workflow-run-crate profile at the REQUIRED level, offline (validated on a copy)."""
    pytest.importorskip("rocrate_validator")
    runs = [r for r in ri.current_studies(ri.load_runs(ROOT / "benchmarks" / "results"))]
    crates = [ROOT / "benchmarks" / "results" / r["folder"] for r in runs]
    crates = [c for c in crates if (c / run_crate.METADATA).is_file()]
    assert crates, "no current study carries a ro-crate-metadata.json"
    for folder in crates:
        copy = shutil.copytree(folder, tmp_path / folder.name)
        result = _validate(copy, tmp_path / f"{folder.name}-cache", monkeypatch)
        assert [issue.message for issue in result.get_issues()] == [] and result.passed(), folder.name


def test_the_results_index_command_writes_and_checks(tmp_path, capsys):
    from greenbench.tools import cli

    runs = recorded_root(tmp_path)
    readme = tmp_path / "README.md"
    assert cli.main(["results-index", "--root", str(runs), "--readme", str(readme), "--check"]) == 1
    assert not (runs / "index.md").exists()
    assert cli.main(["results-index", "--root", str(runs), "--readme", str(readme)]) == 0
    assert "cpu-default-2026-11-22-remeasured" in readme.read_text() and (runs / "index.md").is_file()
    assert cli.main(["results-index", "--root", str(runs), "--readme", str(readme), "--check"]) == 0
    (runs / "cpu-default-2026-11-22-remeasured" / "run.json").write_text("{}")
    assert cli.main(["results-index", "--root", str(runs)]) == 2
    assert "missing fields" in capsys.readouterr().err


def test_exported_figures_are_palette_pngs_of_the_same_picture(tmp_path):
    """The export keeps figures as 256-colour PNGs: same size, (nearly) the same pixels, fewer bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    fig, ax = plt.subplots(figsize=(4, 3), dpi=150)
    for k in range(6):
        ax.plot(np.arange(50), np.sin(np.arange(50) / (k + 3)), label=f"line {k}")
    ax.legend()
    fig.savefig(tmp_path / "f.png")
    plt.close(fig)
    out = run_export.compact_png(tmp_path / "f.png", tmp_path / "out" / "f.png")
    with Image.open(tmp_path / "f.png") as a, Image.open(out) as b:
        assert b.mode == "P" and a.size == b.size
        diff = np.abs(np.asarray(a.convert("RGB"), float) - np.asarray(b.convert("RGB"), float))
        assert diff.mean() < 3.0  # of 255: anti-aliased edges map to the nearest palette colour
    assert out.stat().st_size < (tmp_path / "f.png").stat().st_size
    assert not [p for p in out.parent.iterdir() if p.name != "f.png"]  # no temporary left behind
