"""A finished run's ``results/`` tree recorded as a folder of ``benchmarks/results/``: its headline outputs
(Parquet tables as CSV, the paper's Markdown, the figures), ``provenance.json``, ``run.json`` (the record the
index is generated from, ``greenbench.tools.results_index``) and a Workflow Run RO-Crate
(``greenbench.tools.run_crate``). ``benchmarks/export_run.py`` is the command line.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from greenbench.core import host, io
from greenbench.tools import results_index as ri

TABLES = {  # csv name -> parquet under results/ (required: a finished run has them)
    "eval_summary.csv": "eval/summary.parquet",
    "energy_stats.csv": "stats/energy.parquet",
    "ratios_vs_fp32.csv": "stats/ratios.parquet",
    "harness_overhead.csv": "stats/overhead.parquet",
    "energy_by_length.csv": "stats/energy_by_length.parquet",
    "accuracy_stats.csv": "stats/accuracy.parquet",
}
OPTIONAL_TABLES = {  # written when the run has them
    "answer.csv": "stats/answer.parquet",
    "answer_runtimes.csv": "stats/answer_runtimes.parquet",
    "answer_composed.csv": "stats/answer_composed.parquet",
    "stopping.csv": "stats/stopping.parquet",
    "amortization.csv": "stats/amortization.parquet",
}
COPIES = ["paper/claims.md", "paper/tables.md"]
OPTIONAL_COPIES = ["paper/answer.md", "paper/footprint.md"]
PROVENANCE_KEYS = ("git_commit", "versions", "platform", "processor", "threads", "config_hash", "device_name")


def copy_outputs(results: Path, out: Path) -> list[Path]:
    """The run's headline outputs into ``out``: tables as CSV (no rounding), claims/tables/answer Markdown, every
    PNG figure, the schedules and the forecasters' day-1 summary. A required table missing is an error."""
    results, out = Path(results), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rel in TABLES.items():
        if not (results / rel).exists():
            raise FileNotFoundError(f"{results / rel}: missing; run the pipeline to the end first")
    for name, rel in {**TABLES, **OPTIONAL_TABLES}.items():
        if (results / rel).exists():
            written.append(io.write_text(io.read_parquet(results / rel).to_csv(index=False), out / name))
    for schedule in sorted((results / "carbon" / "schedule").glob("*.parquet")):  # one per scenario
        csv = io.read_parquet(schedule).to_csv(index=False)
        written.append(io.write_text(csv, out / f"schedule_{schedule.stem}.csv"))
    metrics = results / "carbon" / "forecast_metrics.parquet"
    if metrics.exists():
        from greenbench.carbon.forecasting import day1_summary

        written.append(
            io.write_text(day1_summary(io.read_parquet(metrics)).to_csv(index=False), out / "forecast_day1.csv")
        )
    for rel in COPIES + [r for r in OPTIONAL_COPIES if (results / r).exists()]:
        written.append(io.copy_file(results / rel, out / Path(rel).name))
    for figure in sorted((results / "figures").glob("*.png")):
        written.append(compact_png(figure, out / figure.name))
    return written


def compact_png(src: Path, dst: Path) -> Path:
    """``src`` as a 256-colour palette PNG (the figures use a few dozen colours: no visible change, about a
    third of the bytes), written atomically: the recorded runs travel with every checkout, onto GPU nodes too
    (`make gpu-kit` refuses a checkout plus kit over its limit)."""
    from PIL import Image

    with Image.open(src) as image:
        rgba = image.convert("RGBA")
        palette = rgba.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        with io.atomic_file(dst, ".png") as tmp:
            palette.save(tmp, format="PNG", optimize=True)
    return Path(dst)


def trial_metadata(results: Path) -> dict[str, Any]:
    """The first energy trial's provenance (code, config hash, versions, host fingerprint); {} without trials."""
    trials = sorted((Path(results) / "energy").glob("*/*/trial-*.parquet"))
    return io.read_metadata(trials[0]) if trials else {}


def provenance_record(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What provenance.json keeps of a trial's metadata, with the host fingerprint and its class."""
    keep = {k: meta.get(k) for k in PROVENANCE_KEYS}
    recorded = host.recorded(meta)
    if recorded:
        keep["host_fingerprint"] = recorded[0]["host_fingerprint"]
        keep["host_class"] = host.host_class(recorded[0]["host_fingerprint"])
    return keep


def study_host_class(fp: Mapping[str, Any]) -> str:
    """The class the answer is stated for (README, index): the CPU vendor (and family where it names one, as
    "AMD EPYC"), whether it has AMX and, without AMX, the AVX-512 features that pick the int8/bf16 kernels
    (two guests of one CPU family can differ: "AMD EPYC, no AMX (AVX2)" and "... (AVX512-BF16, VNNI)" gave
    different answers), plus the GPU model; ``host.host_class`` where the ISA is unknown."""
    full = host.host_class(fp)
    isa = fp.get("isa") or {}
    amx = isa.get("amx")
    if amx not in (True, False) or fp.get("cpu_vendor") not in ("intel", "amd"):
        return full
    features = "" if amx else f" ({host.features(isa)})"
    if fp["cpu_vendor"] == "amd":
        cpu = "AMD EPYC" if "EPYC" in (fp.get("cpu_model") or "") else "AMD"
        cls = f"{cpu}, {'with' if amx else 'no'} AMX{features}"
    else:
        cls = f"Intel {'with' if amx else 'without'} AMX{features}"
    return f"{cls} + {fp['gpu_model']}" if fp.get("gpu_model") else cls


def benchmark_seconds(results: Path) -> float | None:
    """The sum of the Snakemake benchmark files' seconds under ``results/benchmarks`` (each file's last row):
    the run's job time, its wall time when the jobs ran one at a time (``--cores 1``); None without files."""
    files = sorted((Path(results) / "benchmarks").rglob("*.tsv"))
    seconds = [float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) for f in files]
    return round(sum(seconds), 1) if seconds else None


def answer_from_table(table: pd.DataFrame) -> list[str]:
    """One answer line per row of ``stats/answer.parquet`` (device, model, variant, batch, J per inference with its
    interval and label, p95, accuracy and its loss), for a run whose answer.md is missing."""
    lines = []
    for row in table.to_dict("records"):
        variant = row["variant"]
        runtime = row.get("runtime")
        if isinstance(runtime, str) and runtime not in ("", "eager"):
            variant = f"{variant}@{runtime}"
        loss = row.get("loss_pts")
        lines.append(
            f"**{row['device']} / {row['model']}: `{variant}` at batch {row['batch_size']}** ({row['padding']} padding, "
            f"{row['mode']}): accuracy {row['accuracy']:.4f}"
            + (f" ({-loss:+.2f} pts vs fp32)" if isinstance(loss, (int, float)) and pd.notna(loss) else "")
            + f", p95 {row['request_p95_ms']:.1f} ms, **{row['j_per_inf']:.4f} J/inference** "
            f"[{row['j_low']:.4f}, {row['j_high']:.4f}] ({row['energy_label']})"
            + (f" at {row['traffic_rps']:g} requests/s" if pd.notna(row.get("traffic_rps")) else "")
        )
    return lines


def answer_text(results: Path) -> str | None:
    """The run's answer line(s): answer.md's device lines, else one per row of answer.parquet, else None."""
    md, table = Path(results) / "paper" / "answer.md", Path(results) / "stats" / "answer.parquet"
    lines = ri.answer_lines(md.read_text(encoding="utf-8")) if md.is_file() else []
    if not lines and table.is_file():
        lines = answer_from_table(io.read_parquet(table))
    return "\n".join(lines) or None


def _machine(fp: Mapping[str, Any] | None) -> str | None:
    """ "2-core AMD EPYC" from a fingerprint (None where it names no CPU model)."""
    if not fp or not fp.get("cpu_model"):
        return None
    return f"{fp['logical_cores']}-core {fp['cpu_model']}" if fp.get("logical_cores") else fp["cpu_model"]


def run_record(
    results: Path,
    folder: str,
    *,
    meta: Mapping[str, Any],
    what: str,
    produced_by: str,
    kind: str = "study",
    date: str | None = None,
    wall_time_s: float | None = None,
    host_class: str | None = None,
    machine: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """run.json for an exported run: commit and config hash from the trials' provenance, the host fingerprint's
    description and class (or ``host_class`` given), the wall time given or the Snakemake job time."""
    recorded = host.recorded(meta)
    fp = recorded[0]["host_fingerprint"] if recorded else None
    if host_class is None and fp is None:
        raise ValueError(f"{results}: the energy trials record no host fingerprint; give the host class (--host-class)")
    if date is None:
        named = ri.DATE.search(folder)
        date = named.group() if named else dt.date.today().isoformat()
    source = "given (--wall-time-s)"
    if wall_time_s is None:
        wall_time_s = benchmark_seconds(results)
        source = (
            "sum of the Snakemake benchmark files' seconds (results/benchmarks): job time, the wall time at --cores 1"
        )
    commit = meta.get("git_commit")
    return ri.validate(
        {
            "folder": folder,
            "date": date,
            "kind": kind,
            "status": "current",
            "superseded_by": None,
            "host_class": host_class or study_host_class(fp),
            "host_class_source": "given" if host_class else "fingerprint",
            "host": host.describe(fp) if fp else None,
            "machine": machine or _machine(fp),
            "commit": None if commit in (None, "unknown") else commit,
            "config_hash": meta.get("config_hash"),
            "wall_time_s": wall_time_s,
            "wall_time_source": source if wall_time_s is not None else None,
            "what": what,
            "produced_by": produced_by,
            "answer": answer_text(results),
            "note": note,
        },
        folder,
    )


def export_run(
    results: Path,
    out: Path,
    *,
    configs: Sequence[Path] = (Path("config/config.yaml"),),
    supersedes: Sequence[str] = (),
    what: str | None = None,
    produced_by: str | None = None,
    repo: Path = Path("."),
    data_dir: Path | None = None,
    readme: Path | None = None,
    crate: bool = True,
    **record: Any,
) -> dict[str, Any]:
    """Export ``results`` into the run folder ``out`` (under the recorded runs' root), write its run.json (and
    RO-Crate), mark the ``supersedes`` folders superseded, and regenerate index.md (and the README block)."""
    results, out = Path(results), Path(out)
    copy_outputs(results, out)
    meta = trial_metadata(results)
    if meta:
        io.write_json(provenance_record(meta), out / "provenance.json")
    run = run_record(
        results,
        out.name,
        meta=meta,
        what=what or "the default study: answer, claims, tables, figures",
        produced_by=produced_by or "`make run`; `benchmarks/export_run.py`",
        **record,
    )
    ri.write_run(run, out)
    if crate:
        from greenbench.tools import run_crate

        run_crate.write_crate(results, out, run, configs=configs, repo=repo, data_dir=data_dir)
    for old in supersedes:
        ri.supersede(out.parent, re.sub(r"/+$", "", old).rsplit("/", 1)[-1], out.name)
    ri.regenerate(out.parent, readme)
    return run
