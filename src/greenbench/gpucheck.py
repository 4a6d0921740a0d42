"""The GPU kit: validate every GPU path with one command on an offline GPU node.

Two halves:

- ``make_kit`` (on a machine that ran the study): the fine-tuned baseline as half-precision
  safetensors (MiniLM: ~45 MB instead of the 84 MB packaged wheel), the train/dev tokens, the
  wheels the node lacks (torchao) and a manifest saying what was rounded and how much that changed
  the CPU predictions. Small enough to copy into a short, offline GPU allocation.
- ``run_check`` (on the node, no Snakemake, no network): accuracy of every GPU variant on the full
  SST-2 dev set, then energy trials with the real protocol and meters over a cell set sized to the
  allocation (``PIECES``: piece 0 is the quick check, pieces 1.. the rest of the paper grid), the
  same Parquet tables the pipeline writes, and a one-page ``summary.md`` with the acceptance
  criteria. ``--device cpu --tiny`` is the rehearsal CI runs, so the kit cannot rot.
"""

from __future__ import annotations

import copy
import json
import platform
import shutil
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from greenbench import data, io, models, provenance
from greenbench.energy.protocol import Cell, estimate_trial_seconds
from greenbench.log import get_logger

log = get_logger(__name__)

KIT_VARIANTS = ("fp32", "tf32", "fp16", "bf16", "autocast_fp16", "int8_weight_only", "int4_weight_only", "adaptive")
# the runtime axis on the GPU (its own piece: compiling takes minutes, and each trial runs in its own process)
RUNTIME_CELLS = ("fp32@torch_compile", "fp16@torch_compile", "fp32@torch_compile_cudagraphs",
                 "fp16@torch_compile_cudagraphs", "fp32@onnxruntime", "fp16@onnxruntime")
KIT_MAX_MB = 60.0  # what one copy into an allocation may carry (the lent machines take 64 MiB, the tree included)
BASELINE = "fp32"

# Acceptance criteria (issue 14), checked in the summary.
MAX_DISAGREEMENT = 0.03     # median |counter - integrated| / counter
MAX_CV_BATCH8 = 0.02        # CV of net J/inference across trials, batch >= 8
KIT_TRIALS = 5              # the kit's fixed trial count (the study's sequential stopping is not used here)
MAX_OVERHEAD = 0.01         # sampler on vs off, energy
MAX_HALF_DELTA_PTS = 0.3    # bf16/fp16 accuracy vs fp32, points
MIN_GRAPH_SPEEDUP = 5.0     # CUDA-graph replay vs eager latency at batch 1


# --------------------------------------------------------------------------- the kit
def make_kit(model_dir: str | Path, train_tokens: str | Path, dev_tokens: str | Path, out: str | Path, *,
             model_name: str, max_length: int, wheels: list[str | Path] = (), dtype: str = "float16",
             batch_size: int = 64, max_mb: float = KIT_MAX_MB) -> dict[str, Any]:
    """Write the kit into ``out`` atomically and return its manifest.

    The manifest records the accuracy of the fp32 original and of its ``dtype``-rounded copy
    (upcast back to fp32) on dev, on this machine's CPU, and how many predictions differ: the
    node's "fp32" is the rounded copy, and the reader must know by how much that matters."""
    import torch

    from greenbench import variants
    from greenbench.inference import predict

    dev = io.read_parquet(dev_tokens)
    tokenizer = models.load_tokenizer(str(model_dir))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    original = models.load_classifier(str(model_dir)).float()
    rounded = models.load_classifier(str(model_dir)).to(getattr(torch, dtype))
    fp32 = variants.get(BASELINE)
    preds_orig = predict(fp32.prepare(original, "cpu", None, {}), dev, batch_size, pad_id)
    # the node's "fp32": the rounded weights upcast (a copy: `rounded` itself is saved in half precision)
    preds_round = predict(fp32.prepare(copy.deepcopy(rounded).float(), "cpu", None, {}), dev, batch_size, pad_id)
    manifest = {
        "model": model_name, "max_length": int(max_length), "dtype": dtype,
        "source": f"fine-tuned baseline shipped as {dtype} safetensors, upcast to fp32 on the node",
        "baseline_dir": str(model_dir), "git_commit": provenance.git_commit(), "created": date.today().isoformat(),
        "dev_examples": len(dev),
        "cpu_accuracy_fp32_original": float((preds_orig.prediction == preds_orig.label).mean()),
        f"cpu_accuracy_{dtype}_rounded": float((preds_round.prediction == preds_round.label).mean()),
        "cpu_predictions_changed_by_rounding": int((preds_orig.prediction != preds_round.prediction).sum()),
    }
    with io.atomic_directory(out) as tmp:
        rounded.save_pretrained(tmp / "model", safe_serialization=True)
        tokenizer.save_pretrained(tmp / "model")
        (tmp / "tokens").mkdir()
        shutil.copyfile(train_tokens, tmp / "tokens" / "train.parquet")
        shutil.copyfile(dev_tokens, tmp / "tokens" / "dev.parquet")
        if wheels:
            (tmp / "wheels").mkdir()
            for wheel in wheels:
                shutil.copyfile(wheel, tmp / "wheels" / Path(wheel).name)
        manifest["wheels"] = sorted(Path(w).name for w in wheels)
        manifest["size_mb"] = round(sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file()) / 2**20, 2)
        if manifest["size_mb"] > max_mb:
            raise ValueError(f"the GPU kit would be {manifest['size_mb']} MB, over the {max_mb} MB an allocation "
                             "carries: use --dtype float16/bfloat16 and no extra wheels")
        io.write_json(manifest, tmp / "kit.json")
    log.info("GPU kit -> %s (%.1f MB): %s", out, manifest["size_mb"], manifest["source"])
    return manifest


def read_kit(kit: str | Path) -> dict[str, Any]:
    kit = Path(kit)
    manifest_path = kit / "kit.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} not found: make the kit first (`make gpu-kit` where the study ran)")
    return json.loads(manifest_path.read_text())


def upcast_model(kit: str | Path, out: str | Path) -> Path:
    """The kit's half-precision baseline saved as an fp32 checkpoint (every variant starts from fp32)."""
    tokenizer = models.load_tokenizer(str(Path(kit) / "model"))
    model = models.load_classifier(str(Path(kit) / "model")).float()
    models.save_model(model, tokenizer, out, {"source": f"upcast from {kit}/model"})
    return Path(out)


# --------------------------------------------------------------------------- what each piece measures
@dataclass(frozen=True)
class Piece:
    number: int
    description: str
    cells: tuple[Cell, ...]
    settings: str  # "quick": short windows sized to fit 8 minutes; "config": the config's protocol
    variants: tuple[str, ...] = KIT_VARIANTS
    accuracy: bool = False   # evaluate (and build) every variant of the piece on dev first
    isolated: bool = False   # each trial in a fresh process (compiled kernels and sessions never carry over)


def _overhead(cell: Cell) -> Cell:
    return Cell(cell.variant, cell.batch_size, cell.padding, cell.mode, sampler=False)


GROUPS = tuple((b, p, m) for b in (1, 8, 64) for p, m in (("fixed", "eager"), ("dynamic", "eager"), ("fixed", "cuda_graph")))


def plan_pieces(variant_names=KIT_VARIANTS) -> list[Piece]:
    """Piece 0, the quick check: every variant at batch 64 (fixed padding), fp32/fp16/bf16 eager and
    CUDA-graph at batch 1, one dynamic-padding cell, the adaptive router's refused graph cell, the
    overhead cell. Pieces 1..9: the paper grid (batch 1/8/64 x fixed-eager, dynamic-eager,
    fixed-graph) one group at a time, every variant with fp32 beside it for pairing. Piece 10: the
    runtime axis (torch.compile, inductor CUDA graphs, ONNX Runtime) beside fp32/fp16 eager, built and
    evaluated first, each trial in its own process."""
    names = list(variant_names)
    quick = [Cell(v, 64, "fixed", "eager") for v in names]
    quick += [Cell(v, 1, "fixed", mode) for v in names if v in ("fp32", "fp16", "bf16") for mode in ("eager", "cuda_graph")]
    quick += [Cell(v, 1, "fixed", "cuda_graph") for v in names if v == "adaptive"]
    quick += [Cell(BASELINE, 64, "dynamic", "eager"), _overhead(Cell(BASELINE, 64, "fixed", "eager"))]
    pieces = [Piece(0, "quick check (short windows)", tuple(quick), "quick", accuracy=True)]
    for i, (b, p, m) in enumerate(GROUPS, start=1):
        cells = [Cell(v, b, p, m) for v in names]
        pieces.append(Piece(i, f"batch {b}, {p} padding, {m}", tuple(cells + [_overhead(cells[0])]), "config"))
    runtime_names = (BASELINE, "fp16", *RUNTIME_CELLS)
    cells = [Cell(v, b, "fixed", "eager") for b in (8, 64) for v in runtime_names]
    pieces.append(Piece(len(pieces), "runtimes: torch.compile (+ CUDA graphs) and ONNX Runtime beside eager, batch 8 "
                        "and 64, fixed padding; builds and accuracy first", tuple(cells + [_overhead(cells[0])]),
                        "quick", variants=runtime_names, accuracy=True, isolated=True))
    return pieces


QUICK_ENERGY = {"window_s": {"cpu": 2.0, "cuda": 2.0}, "idle_s": 0.5, "idle_settle_s": {"cpu": 0.0, "cuda": 0.25},
                "warmup": {"min_iters": 5, "max_s": 2.0, "tolerance": 0.05}}
TINY_ENERGY = {"window_s": {"cpu": 0.1, "cuda": 0.2}, "idle_s": 0.05, "idle_settle_s": {"cpu": 0.0, "cuda": 0.0},
               "warmup": {"min_iters": 2, "max_s": 0.3, "tolerance": 0.5}, "min_iterations": 2, "max_inputs": 32}


def energy_settings(cfg_energy: Mapping[str, Any], piece: Piece, tiny: bool) -> dict[str, Any]:
    out = dict(cfg_energy)
    if piece.settings == "quick":
        out.update(QUICK_ENERGY)
    if tiny:
        out.update(TINY_ENERGY)
    return out


# --------------------------------------------------------------------------- the check
def default_out(device: str) -> Path:
    """benchmarks/results/<gpu>-<date> (e.g. nvidia-h100-80gb-hbm3-2026-11-24)."""
    name = "cpu-rehearsal"
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name(0)
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return Path("benchmarks/results") / f"{slug}-{date.today().isoformat()}"


def run_check(kit: str | Path, out: str | Path, cfg: Mapping[str, Any], *, device: str = "cuda", piece: int = 0,
              trials: int | None = None, tiny: bool = False, budget_s: float = 450.0,
              validated: str = "") -> str:
    """Run one piece of the check and write ``out``/summary.md (rewritten after every trial, so a
    killed allocation still leaves what it measured). Returns the summary text."""
    started = time.perf_counter()
    kit, out = Path(kit), Path(out)
    manifest = read_kit(kit)
    pieces = plan_pieces()
    if not 0 <= piece < len(pieces):
        raise ValueError(f"piece {piece} does not exist (0..{len(pieces) - 1}; see --list-pieces)")
    plan = pieces[piece]
    model_name = manifest["model"]
    work = out / "work"
    baseline = upcast_model(kit, work / "baseline")
    seed, threads = int(cfg["seed"]), cfg["compute"]["threads"]
    tokens = {split: kit / "tokens" / f"{split}.parquet" for split in ("train", "dev")}
    context = {"kit": manifest, "piece": {"number": plan.number, "description": plan.description},
               "device": device, "tiny": tiny, "config": validated, "host": platform.node()}
    failures: list[str] = []
    context["failures"] = failures
    names = plan.variants
    if plan.accuracy:
        artifacts = _accuracy(baseline, tokens, out, work, cfg, device, model_name, tiny, failures, names)
    else:
        artifacts = _build_artifacts(baseline, tokens, work, cfg, device, tiny, failures, names)
    energy = energy_settings(cfg["energy"], plan, tiny)
    cells = plan.cells
    if tiny:  # the rehearsal's few inputs cannot fill a fixed batch of 64
        cells = tuple(dict.fromkeys(replace(c, batch_size=min(c.batch_size, 8)) for c in cells))
    n_trials = int(trials if trials is not None else KIT_TRIALS)
    per_trial = estimate_trial_seconds(sum(1 for c in cells if not (
        c.mode == "cuda_graph" and (device != "cuda" or c.variant == "adaptive"))), energy, device)
    log.info("piece %d (%s): %d cells x %d trials, about %.0f s per trial", plan.number, plan.description,
             len(cells), n_trials, per_trial)
    context["estimate_s_per_trial"] = round(per_trial, 1)
    trial_files: list[Path] = []
    skipped = []
    from greenbench.energy.protocol import combine_trials, run_trial

    params = {v: _variant_params(cfg, v, tiny) for v in names}
    for trial in range(n_trials):
        if time.perf_counter() - started + per_trial > budget_s:
            skipped.append(trial)
            continue
        path = out / "energy" / device / model_name / f"trial-{trial}.parquet"
        kwargs = dict(model_name=model_name, device=device, variant_names=list(names), artifacts=artifacts,
                      variant_params=params, trial=trial, seed=seed, cfg=energy, max_length=int(manifest["max_length"]),
                      threads=threads, cells=list(cells))
        try:
            if plan.isolated:
                _isolated(run_trial, baseline, tokens["dev"], path, **kwargs)
            else:
                run_trial(baseline, tokens["dev"], path, **kwargs)
        except Exception as exc:
            log.exception("trial %d failed", trial)
            failures.append(f"trial {trial}: {type(exc).__name__}: {exc}")
            continue
        trial_files.append(path)
        combine_trials(trial_files, out / "energy" / "measurements.parquet")
        context.update(trials_done=len(trial_files), trials_skipped_for_budget=skipped,
                       elapsed_s=round(time.perf_counter() - started, 1))
        text = write_summary(out, context)
    context.update(trials_done=len(trial_files), trials_skipped_for_budget=skipped,
                   elapsed_s=round(time.perf_counter() - started, 1))
    text = write_summary(out, context)
    shutil.rmtree(work, ignore_errors=True)  # the upcast checkpoint: rebuilt from the kit on every run
    return text


def _isolated(function, *args, **kwargs) -> None:
    """``function(*args, **kwargs)`` in a fresh (spawned) process; raise if it does not end cleanly."""
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(target=function, args=args, kwargs=kwargs)
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"the trial's process ended with exit code {process.exitcode}")


def _variant_params(cfg, name: str, tiny: bool) -> dict[str, Any]:
    from greenbench.wiring import variant_params

    params = variant_params(cfg, name)
    if tiny and name == "adaptive":
        params["calibration_size"] = 64
        params["calibration_min_tokens"] = 1
    if tiny and "mode" in params.get("runtime", {}):
        params["runtime"]["mode"] = "default"  # the rehearsal checks the path, not autotuned speed
    return params


def _build_artifacts(baseline: Path, tokens, work: Path, cfg, device: str, tiny: bool,
                     failures: list[str], names=KIT_VARIANTS) -> dict[str, Path]:
    """Artifacts of the kit's variants that have a build step (the adaptive router's calibration)."""
    from greenbench import variants
    from greenbench.wiring import build_finetune

    artifacts = {}
    for name in names:
        recipe = variants.get(name)
        if recipe.build is None or recipe.applicability(device) is not None:
            continue
        target = work / "variants" / name
        finetune = build_finetune(cfg, name) | ({"train_subset": 0} if tiny else {})
        try:
            recipe.build(baseline, tokens["train"], target, device, _variant_params(cfg, name, tiny),
                         int(cfg["seed"]), finetune)
            artifacts[name] = target
        except Exception as exc:  # its cells become "could not prepare" rows; the rest goes on
            log.exception("build %s on %s failed", name, device)
            failures.append(f"build {name}: {type(exc).__name__}: {exc}")
    return artifacts


def _accuracy(baseline: Path, tokens, out: Path, work: Path, cfg, device: str, model_name: str,
              tiny: bool, failures: list[str], names=KIT_VARIANTS) -> dict[str, Path]:
    from greenbench.evaluate import evaluate, summarize

    artifacts = _build_artifacts(baseline, tokens, work, cfg, device, tiny, failures, names)
    files = []
    for name in names:
        path = out / "eval" / device / model_name / f"{name}.parquet"
        try:
            evaluate(baseline, tokens["dev"], name, device, path, batch_size=int(cfg["evaluate"]["batch_size"]),
                     dev_subset=64 if tiny else 0, seed=int(cfg["seed"]), threads=cfg["compute"]["threads"],
                     model_name=model_name, artifact=artifacts.get(name),
                     variant_params=_variant_params(cfg, name, tiny))
            files.append(path)
        except Exception as exc:  # one broken path must not cost the allocation the others' results
            log.exception("evaluate %s on %s failed", name, device)
            failures.append(f"evaluate {name}: {type(exc).__name__}: {exc}")
    if files:
        summarize(files, out / "eval" / "summary.parquet")
    return artifacts


# --------------------------------------------------------------------------- the summary
def _fmt(value, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, spec)


def _table(df: pd.DataFrame) -> str:
    if df.empty:
        return "(none)\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def accuracy_section(summary: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    base = summary.loc[(summary.variant == BASELINE) & (summary.status == "ok"), "accuracy"]
    base_acc = float(base.iloc[0]) if len(base) else float("nan")
    rows, deltas = [], {}
    for r in summary.itertuples(index=False):
        delta = (r.accuracy - base_acc) * 100 if r.status == "ok" else float("nan")
        deltas[r.variant] = delta
        rows.append({"variant": r.variant, "status": r.status, "accuracy": _fmt(r.accuracy, ".4f"),
                     "Δ vs fp32 (points)": _fmt(delta, "+.2f"), "examples": r.examples,
                     "linear weight MB": _fmt((r.linear_weight_bytes or 0) / 2**20, ".2f") if r.status == "ok" else "–",
                     "reason": r.reason})
    return pd.DataFrame(rows), deltas


def cell_table(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per cell over trials: median counter-vs-integrated disagreement, CV of net J/inference,
    mean J/inference and p50 latency, the flags seen."""
    ok = measurements[measurements.status == "ok"]
    rows = []
    keys = ["variant", "batch_size", "padding", "mode", "sampler"]
    for key, g in ok.groupby(keys, sort=True):
        net = g.j_per_inf_net.dropna().to_numpy(float)
        rows.append(dict(zip(keys, key), trials=len(g),
                         disagreement_median=float(g.counter_vs_integrated.median()) if g.counter_vs_integrated.notna().any() else np.nan,
                         cv_net=float(np.std(net, ddof=1) / np.mean(net)) if len(net) > 1 and np.mean(net) > 0 else np.nan,
                         j_net=float(np.mean(net)) if len(net) else np.nan,
                         j_gross=float(g.j_per_inf_gross.mean()) if g.j_per_inf_gross.notna().any() else np.nan,
                         p50_ms=float(g.latency_p50_ms.mean()), label="+".join(sorted(set(g.energy_label.dropna()))),
                         power_field="+".join(sorted(set(g.power_field.dropna()))) or "–",
                         state_during=bool(g.state_during_window.fillna(False).astype(bool).all()),
                         flags="; ".join(sorted({f for fl in g["flags"].dropna() for f in fl.split("; ") if f}))[:160]))
    return pd.DataFrame(rows)


def overhead_ratio(measurements: pd.DataFrame) -> tuple[float, float]:
    """Energy and throughput, sampler on / off, for the overhead cell (paired by trial)."""
    ok = measurements[(measurements.status == "ok")]
    off = ok[~ok.sampler.astype(bool)]
    if off.empty:
        return float("nan"), float("nan")
    ref = off.iloc[0]
    on = ok[ok.sampler.astype(bool) & (ok.variant == ref.variant) & (ok.batch_size == ref.batch_size)
            & (ok.padding == ref.padding) & (ok["mode"] == ref["mode"])]
    pairs = on.merge(off, on="trial", suffixes=("_on", "_off"))
    if pairs.empty:
        return float("nan"), float("nan")
    energy = (pairs.j_per_inf_gross_on / pairs.j_per_inf_gross_off).mean()
    throughput = (pairs.throughput_per_s_on / pairs.throughput_per_s_off).mean()
    return float(energy), float(throughput)


def graph_vs_eager(cells: pd.DataFrame) -> pd.DataFrame:
    rows = []
    if cells.empty:
        return pd.DataFrame(rows)
    b1 = cells[(cells.batch_size == 1) & (cells.padding == "fixed") & cells.sampler]
    for variant, g in b1.groupby("variant"):
        eager, graph = g[g["mode"] == "eager"], g[g["mode"] == "cuda_graph"]
        if eager.empty or graph.empty:
            continue
        rows.append({"variant": variant, "eager p50 ms": _fmt(eager.p50_ms.iloc[0]), "graph p50 ms": _fmt(graph.p50_ms.iloc[0]),
                     "speed-up": round(float(eager.p50_ms.iloc[0] / graph.p50_ms.iloc[0]), 2),
                     "J/inf eager": _fmt(eager.j_gross.iloc[0]), "J/inf graph": _fmt(graph.j_gross.iloc[0])})
    return pd.DataFrame(rows)


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "MISSED")


def criteria(cells: pd.DataFrame, deltas: Mapping[str, float], overhead: float, graphs: pd.DataFrame) -> pd.DataFrame:
    measured = cells[cells.sampler] if not cells.empty else cells
    dis = measured.disagreement_median.dropna() if not measured.empty else pd.Series(dtype=float)
    cv = measured[measured.batch_size >= 8].cv_net.dropna() if not measured.empty else pd.Series(dtype=float)
    half = [abs(deltas[v]) for v in ("fp16", "bf16") if v in deltas and np.isfinite(deltas[v])]
    speed = graphs.loc[graphs.variant == BASELINE, "speed-up"] if not graphs.empty else pd.Series(dtype=float)
    rows = [
        ("median counter-vs-integrated disagreement ≤ 3%", _fmt(dis.median() if len(dis) else None, ".2%"),
         _verdict(bool(dis.median() <= MAX_DISAGREEMENT) if len(dis) else None)),
        ("CV of net J/inference ≤ 2% at batch ≥ 8 (worst cell)", _fmt(cv.max() if len(cv) else None, ".2%"),
         _verdict(bool(cv.max() <= MAX_CV_BATCH8) if len(cv) else None)),
        ("harness overhead ≤ 1% of energy", _fmt(overhead - 1 if np.isfinite(overhead) else None, "+.2%"),
         _verdict(bool(abs(overhead - 1) <= MAX_OVERHEAD) if np.isfinite(overhead) else None)),
        ("fp16 and bf16 within 0.3 points of fp32", _fmt(max(half) if half else None, ".2f"),
         _verdict(bool(max(half) <= MAX_HALF_DELTA_PTS) if len(half) == 2 else None)),
        ("CUDA-graph replay ≥ 5× faster than eager at batch 1 (fp32)", _fmt(speed.iloc[0] if len(speed) else None, ".2f"),
         _verdict(bool(speed.iloc[0] >= MIN_GRAPH_SPEEDUP) if len(speed) else None)),
    ]
    return pd.DataFrame(rows, columns=["criterion", "value", "verdict"])


def refused_cells(measurements: pd.DataFrame) -> pd.DataFrame:
    bad = measurements[measurements.status != "ok"]
    if bad.empty:
        return pd.DataFrame(columns=["variant", "cells", "status", "reason"])
    return (bad.groupby(["variant", "status", "reason"]).size().reset_index(name="cells")
            [["variant", "cells", "status", "reason"]])


def write_summary(out: str | Path, context: Mapping[str, Any]) -> str:
    out = Path(out)
    kit = context["kit"]
    lines = [f"# GPU check — piece {context['piece']['number']}: {context['piece']['description']}", ""]
    meas_path = out / "energy" / "measurements.parquet"
    measurements = io.read_parquet(meas_path) if meas_path.exists() else pd.DataFrame()
    meta = io.read_metadata(meas_path)["provenance"][0] if meas_path.exists() else {}
    versions = provenance.versions()
    lines += [
        "## Provenance", "",
        f"- device: {meta.get('device_name') or context['device']} (uuid {meta.get('device_uuid', '–')}), "
        f"driver {meta.get('driver', '–')}, CUDA {meta.get('cuda', '–')}, host {context.get('host', '–')}",
        f"- libraries: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- greenbench commit {provenance.git_commit()} (kit made from {kit.get('git_commit', '–')} on {kit.get('created', '–')})",
        f"- model: {kit['source']}; on CPU the rounding changed {kit.get('cpu_predictions_changed_by_rounding', '–')} of "
        f"{kit.get('dev_examples', '–')} dev predictions (fp32 original {_fmt(kit.get('cpu_accuracy_fp32_original'), '.4f')})",
        f"- config: {context.get('config') or 'validated'}; trials done {context.get('trials_done', 0)}"
        + (f", skipped to stay in budget: {context['trials_skipped_for_budget']}" if context.get("trials_skipped_for_budget") else "")
        + f"; about {context.get('estimate_s_per_trial', '–')} s per trial estimated, {context.get('elapsed_s', '–')} s elapsed"
        + (" (tiny rehearsal sizes)" if context.get("tiny") else ""),
        "- serving mode: closed loop (one batch in flight, host sync per iteration); state (clocks, temperature, "
        "throttle reasons) read during each window by the sampler", "",
    ]
    deltas: dict[str, float] = {}
    summary_path = out / "eval" / "summary.parquet"
    if summary_path.exists():
        acc, deltas = accuracy_section(io.read_parquet(summary_path))
        lines += ["## Accuracy on SST-2 dev", "", _table(acc)]
    cells = cell_table(measurements) if not measurements.empty else pd.DataFrame()
    overhead, throughput = overhead_ratio(measurements) if not measurements.empty else (float("nan"), float("nan"))
    graphs = graph_vs_eager(cells)
    lines += ["## Acceptance criteria", "", _table(criteria(cells, deltas, overhead, graphs))]
    if not cells.empty:
        shown = cells.assign(**{c: cells[c].map(lambda v: _fmt(v, ".3g")) for c in ("disagreement_median", "cv_net",
                                                                                   "j_net", "j_gross", "p50_ms")})
        lines += ["## Cells (means over trials)", "", _table(shown)]
    lines += [f"## Harness overhead", "", f"sampler on / off: energy {_fmt(overhead, '.4f')}, throughput "
              f"{_fmt(throughput, '.4f')}", "", "## CUDA graph vs eager at batch 1", "", _table(graphs),
              "## Failures (a step that raised; everything else went on)", "",
              "\n".join(f"- {f}" for f in context.get("failures") or []) or "(none)", "",
              "## Invalid and not-applicable cells", "",
              _table(refused_cells(measurements)) if not measurements.empty else "(no trial yet)\n"]
    text = "\n".join(lines)
    io.write_text(text, out / "summary.md")
    return text
