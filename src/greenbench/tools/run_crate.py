"""An exported run folder as a Workflow Run RO-Crate (``ro-crate-metadata.json``, written with ``rocrate``).

RO-Crate 1.1 conforming to Process Run Crate 0.5, Workflow Run Crate 0.5 and Workflow RO-Crate 1.0. The main
entity is the workflow (``workflow/Snakefile`` and its ``rules/*.smk``, copied into the folder at the run's
commit); one ``CreateAction`` (the run) has the workflow as its instrument, the config files (copied) and the input
data (SST-2 train/dev, carbon CSVs: named by sha256, not copied) as its objects, the folder's outputs as its
results, its wall time and the host class as properties. The input checksums are the run's own (the metadata of
``results/data/sst2/*.parquet`` and ``results/carbon/traces.parquet``); where a run does not record them they are
computed at export time from ``$GREENBENCH_DATA``, and the crate says so.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

from greenbench.core import io, provenance

METADATA = "ro-crate-metadata.json"
PROFILES = {  # permalink -> (name, version)
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
LICENSE = "https://spdx.org/licenses/MIT"
WORKFLOW_FILES = ("workflow/Snakefile", "workflow/rules")
FORMATS = {".csv": "text/csv", ".md": "text/markdown", ".png": "image/png", ".json": "application/json"}
FORMATS |= {
    ".yaml": "application/yaml",
    ".smk": "text/plain",
    "": "text/plain",
    ".txt": "text/plain",
    ".rst": "text/x-rst",
}
NOT_RESULTS = {METADATA, "run.json"}
# Terms the RO-Crate 1.1 context (schema.org 10.0) lacks, added to the crate's @context: ``sha256`` has the IRI
# RO-Crate 1.2's context gives it (schema.org 13.0 added it); without it roc-validator rejects the key (MUST).
EXTRA_TERMS = {"sha256": "http://schema.org/sha256"}


def _git(repo: Path, *args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def copy_workflow(repo: Path, commit: str | None, out: Path) -> tuple[list[str], str]:
    """``workflow/Snakefile`` and ``workflow/rules/*.smk`` into ``out/workflow/``: as of ``commit`` when the
    checkout has it, else the checkout's files. Returns the paths (relative to ``out``) and where they came from."""
    clean = (commit or "").removesuffix("+dirty")
    names = _git(repo, "ls-tree", "-r", "--name-only", clean, "--", *WORKFLOW_FILES) if clean else None
    copied = []
    if names:
        for name in sorted(n for n in names.splitlines() if n == "workflow/Snakefile" or n.endswith(".smk")):
            text = _git(repo, "show", f"{clean}:{name}")
            if text is None:
                break
            io.write_text(text, out / name)
            copied.append(name)
        else:
            dirty = " (the run's tree was modified: +dirty)" if (commit or "").endswith("+dirty") else ""
            return copied, f"git show {clean[:12]}{dirty}"
    files = [Path(repo) / "workflow" / "Snakefile", *sorted((Path(repo) / "workflow" / "rules").glob("*.smk"))]
    for src in files:
        if not src.is_file():
            raise FileNotFoundError(f"{src}: the workflow to record; run from the repository root (--repo)")
        name = src.relative_to(repo).as_posix()
        io.copy_file(src, out / name)
        copied.append(name)
    return copied, "the checkout at export time (the run's commit is not in it)"


def recorded_inputs(results: Path) -> list[dict[str, Any]]:
    """The input files the run recorded with their sha256: SST-2 splits (``results/data/sst2/*.parquet``) and the
    carbon CSVs (``results/carbon/traces.parquet``)."""
    inputs = []
    for split in sorted((Path(results) / "data" / "sst2").glob("*.parquet")):
        meta = io.read_metadata(split)
        if meta.get("source") and meta.get("source_sha256"):
            inputs.append({"path": meta["source"], "sha256": meta["source_sha256"], "what": f"SST-2 {split.stem}"})
    traces = Path(results) / "carbon" / "traces.parquet"
    if traces.exists():
        for path, digest in sorted((io.read_metadata(traces).get("sha256") or {}).items()):
            inputs.append({"path": path, "sha256": digest, "what": "carbon-intensity trace"})
    for entry in inputs:
        entry["checksum_source"] = "recorded by the run (its Parquet metadata)"
    return inputs


def mirror_inputs(data_dir: Path) -> list[dict[str, Any]]:
    """The inputs in a data mirror (``$GREENBENCH_DATA``: ``sst2/{train,dev}.tsv``, ``carbon/**/*.csv``) with their
    sha256 computed now."""
    data_dir = Path(data_dir)
    files = [data_dir / "sst2" / f"{split}.tsv" for split in ("train", "dev")]
    files += sorted((data_dir / "carbon").rglob("*.csv"))
    return [
        {
            "path": str(f),
            "sha256": provenance.file_sha256(f),
            "what": "SST-2 " + f.stem if f.parent.name == "sst2" else "carbon-intensity trace",
            "checksum_source": f"computed at export time from $GREENBENCH_DATA ({data_dir}): the run did not record it",
        }
        for f in files
        if f.is_file()
    ]


def _input_id(entry: Mapping[str, Any]) -> str:
    return "#input-" + hashlib.sha256(entry["path"].encode()).hexdigest()[:12] + "-" + Path(entry["path"]).name


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")


def run_times(results: Path, wall_time_s: float | None) -> tuple[str | None, str]:
    """(startTime or None, endTime): the run ended when its newest output under results/ was written; it started
    its wall time before that."""
    stamps = [p.stat().st_mtime for p in Path(results).rglob("*") if p.is_file()]
    end = max(stamps) if stamps else dt.datetime.now(dt.timezone.utc).timestamp()
    return (_iso(end - wall_time_s) if wall_time_s else None), _iso(end)


def write_crate(
    results: Path,
    out: Path,
    run: Mapping[str, Any],
    *,
    configs: Sequence[Path] = (),
    repo: Path = Path("."),
    data_dir: Path | None = None,
) -> Path:
    """Write ``out/ro-crate-metadata.json`` for the run folder ``out`` (its outputs already there) exported from
    ``results``; copies the workflow and the configs into ``out``."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    out, repo = Path(out), Path(repo)
    workflow_files, workflow_source = copy_workflow(repo, run["commit"], out)
    config_files = []
    for config in configs:
        io.copy_file(config, out / "config" / Path(config).name)
        config_files.append(f"config/{Path(config).name}")
    inputs = recorded_inputs(results)
    if not inputs:
        mirror = data_dir or os.environ.get("GREENBENCH_DATA")
        inputs = mirror_inputs(Path(mirror)) if mirror else []

    crate = ROCrate(version="1.1")
    crate.metadata.extra_terms |= EXTRA_TERMS
    crate.name = f"greenbench run {run['folder']}"
    crate.description = f"{run['what']} ({run['host_class']}; {run['date']})."
    crate.license = crate.add(
        ContextEntity(crate, LICENSE, properties={"@type": "CreativeWork", "name": "MIT License"})
    )
    crate.datePublished = dt.date.today().isoformat()
    crate.root_dataset["conformsTo"] = [
        crate.add(ContextEntity(crate, uri, properties={"@type": "CreativeWork", "name": name, "version": version}))
        for uri, (name, version) in PROFILES.items()
    ]

    def add_file(rel: str, **properties: Any):
        path = out / rel
        props = {"name": rel, "encodingFormat": FORMATS.get(path.suffix, "application/octet-stream")}
        if rel not in NOT_RESULTS:
            props |= {"contentSize": str(path.stat().st_size), "sha256": provenance.file_sha256(path)}
        if rel == "README.md":
            props["about"] = crate.root_dataset
        return crate.add_file(path, dest_path=rel, properties=props | properties)

    version = (run["commit"] or "unknown").removesuffix("+dirty")
    workflow = crate.add_workflow(
        out / "workflow" / "Snakefile",
        dest_path="workflow/Snakefile",
        main=True,
        lang="snakemake",
        properties={
            "name": "greenbench workflow (Snakemake)",
            "version": version,
            "conformsTo": {"@id": BIOSCHEMAS_WORKFLOW},
            "description": f"The Snakefile and its rules as run, copied from {workflow_source}.",
            "license": crate.license,
        },
    )
    rules = [add_file(rel) for rel in workflow_files if rel != "workflow/Snakefile"]
    if rules:
        workflow["hasPart"] = rules
    objects = [add_file(rel, description="the config file the run read") for rel in config_files]
    for entry in inputs:
        objects.append(
            crate.add(
                ContextEntity(
                    crate,
                    _input_id(entry),
                    properties={
                        "@type": "File",
                        "name": Path(entry["path"]).name,
                        "description": f"{entry['what']} at {entry['path']} (not copied: named by its checksum; "
                        f"checksum {entry['checksum_source']})",
                        "sha256": entry["sha256"],
                    },
                )
            )
        )
    skip = set(workflow_files) | set(config_files)
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    result = [add_file(rel) for rel in outputs if rel not in skip and rel not in NOT_RESULTS]
    add_file("run.json", description="this run's record in the index (its status changes when a run supersedes it)")

    start, end = run_times(results, run["wall_time_s"])
    properties = [("host class", run["host_class"], None), ("wall time", run["wall_time_s"], "s")]
    properties += [
        ("host", run["host"], None),
        ("commit", run["commit"], None),
        ("config hash", run["config_hash"], None),
    ]
    values = [
        crate.add(
            ContextEntity(
                crate,
                "#" + name.replace(" ", "-"),
                properties={"@type": "PropertyValue", "name": name, "value": value}
                | ({"unitText": unit, "description": run["wall_time_source"]} if unit else {}),
            )
        )
        for name, value, unit in properties
        if value is not None
    ]
    agent = crate.add(ContextEntity(crate, "#greenbench", properties={"@type": "Organization", "name": "greenbench"}))
    action = crate.add(
        ContextEntity(
            crate,
            "#run",
            properties={
                "@type": "CreateAction",
                "name": f"greenbench run {run['folder']}",
                "description": f"{run['what']}. Produced by {run['produced_by']}. endTime: when the newest output "
                "under results/ was written; startTime: that minus the wall time.",
                "instrument": workflow,
                "object": objects,
                "result": result,
                "endTime": end,
                "agent": agent,
                "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
                "additionalProperty": values,
            }
            | ({"startTime": start} if start else {}),
        )
    )
    crate.root_dataset["mentions"] = action
    crate.metadata.write(out)
    return out / METADATA
