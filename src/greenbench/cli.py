"""``python -m greenbench <stage>``: every stage without Snakemake (also how stages run on a GPU host).

Paths default to the workflow's layout (greenbench.paths) relative to the current directory,
and settings come from the same config files Snakemake reads (validated first).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from greenbench import paths
from greenbench.config import ConfigError, load_config, validate_config
from greenbench.log import configure, get_logger

log = get_logger("cli")
DEFAULT_CONFIG = "config/config.yaml"


def _config(args) -> dict[str, Any]:
    files = args.config or [DEFAULT_CONFIG]
    if DEFAULT_CONFIG not in files and Path(DEFAULT_CONFIG).exists():
        files = [DEFAULT_CONFIG, *files]  # like Snakemake: overrides merge over the default
    return validate_config(load_config(files))


def cmd_validate_config(args) -> int:
    cfg = _config(args)
    print(f"config OK: models={cfg['study']['models']} variants={cfg['study']['variants']} devices={cfg['study']['devices']}")
    return 0


def cmd_retrieve_sst2(args) -> int:
    from greenbench.data import retrieve_sst2

    cfg = _config(args)
    for split in args.split:
        retrieve_sst2(split, paths.SST2_TSV.format(split=split), hub_fallback=cfg["data"]["hub_fallback"])
    return 0


def cmd_prepare_dataset(args) -> int:
    from greenbench.data import prepare_dataset

    for split in args.split:
        prepare_dataset(args.tsv or paths.SST2_TSV.format(split=split), paths.DATASET.format(split=split), split)
    return 0


def cmd_tokenize(args) -> int:
    from greenbench.models import tokenize_split

    cfg = _config(args)
    spec = cfg["models"][args.model]
    for split in args.split:
        tokenize_split(paths.DATASET.format(split=split), spec["source"], spec["max_length"],
                       paths.TOKENS.format(model=args.model, split=split))
    return 0


def cmd_finetune(args) -> int:
    from greenbench.training import finetune_baseline

    cfg = _config(args)
    spec = cfg["models"][args.model]
    finetune_baseline(paths.TOKENS.format(model=args.model, split="train"), spec["source"],
                      paths.BASELINE.format(model=args.model), cfg["finetune"], cfg["seed"],
                      finetune=spec["finetune"], threads=cfg["compute"]["threads"], model_name=args.model)
    return 0


def _artifact(args, variant: str) -> Path | None:
    """The built artifact of ``variant`` for this model and device, when the recipe has one and it exists."""
    from greenbench.variants import get

    path = Path(paths.VARIANT_ARTIFACT.format(device=args.device, model=args.model, variant=variant))
    return path if get(variant).build is not None and path.exists() else None


def cmd_evaluate(args) -> int:
    from greenbench import wiring
    from greenbench.evaluate import evaluate

    cfg = _config(args)
    settings = wiring.evaluate_settings(cfg)
    for variant in args.variant or cfg["study"]["variants"]:
        result = evaluate(paths.BASELINE.format(model=args.model), paths.TOKENS.format(model=args.model, split="dev"),
                          variant, args.device, paths.EVAL.format(device=args.device, model=args.model, variant=variant),
                          batch_size=settings["batch_size"], dev_subset=settings["dev_subset"],
                          seed=cfg["seed"], threads=cfg["compute"]["threads"], model_name=args.model,
                          artifact=_artifact(args, variant), variant_params=wiring.variant_params(cfg, variant))
        print(f"{args.model}/{variant}/{args.device}: {result['status']} accuracy={result['accuracy']}")
    return 0


def cmd_build_variant(args) -> int:
    from greenbench import wiring
    from greenbench.variants import get

    cfg = _config(args)
    recipe = get(args.variant)
    if recipe.build is None:
        print(f"variant '{args.variant}' has nothing to build")
        return 0
    recipe.build(paths.BASELINE.format(model=args.model), paths.TOKENS.format(model=args.model, split="train"),
                 paths.VARIANT_ARTIFACT.format(device=args.device, model=args.model, variant=args.variant), args.device,
                 wiring.variant_params(cfg, args.variant), cfg["seed"], wiring.build_finetune(cfg, args.variant))
    return 0


def cmd_measure_energy(args) -> int:
    """One trial (or several) on this host; on a GPU host: --device cuda."""
    from greenbench import wiring
    from greenbench.energy.protocol import run_trial

    cfg = _config(args)
    spec = cfg["models"][args.model]
    names = args.variant or cfg["study"]["variants"]
    artifacts = {name: path for name in names if (path := _artifact(args, name)) is not None}
    energy = wiring.energy_protocol(cfg)
    for key in ("batch_sizes", "paddings", "modes"):
        if getattr(args, key):
            energy[key] = getattr(args, key)
    for trial in args.trial or range(cfg["energy"]["trials"]):
        run_trial(paths.BASELINE.format(model=args.model), paths.TOKENS.format(model=args.model, split="dev"),
                  args.out.format(device=args.device, model=args.model, trial=trial) if args.out else
                  paths.ENERGY_TRIAL.format(device=args.device, model=args.model, trial=trial),
                  model_name=args.model, device=args.device, variant_names=names, artifacts=artifacts,
                  variant_params={name: wiring.variant_params(cfg, name) for name in names}, trial=int(trial), seed=cfg["seed"], cfg=energy,
                  max_length=spec["max_length"], threads=cfg["compute"]["threads"])
    return 0


def cmd_carbon(args) -> int:
    """prepare traces -> forecasts -> schedule, with the layout's paths."""
    from greenbench import wiring
    from greenbench.carbon import forecast, schedule, traces

    cfg = _config(args)
    c = cfg["carbon"]
    files = [traces.retrieve_trace(z, y, paths.CARBON_TRACE_CSV.format(zone=z, year=y))
             for z in c["zones"] for y in sorted(c["years"])]
    traces.prepare_traces(files, paths.CARBON_TRACES, c["column"], c["max_gap_hours"])
    settings = wiring.forecast_settings(cfg)
    table = forecast.run_forecasting(paths.CARBON_TRACES, settings, cfg["seed"], paths.FORECAST_METRICS,
                                     paths.FORECASTS, paths.FORECASTER_DIR)
    forecast.issue_hourly(paths.CARBON_TRACES, paths.FORECASTER_DIR, settings, forecast.hourly_window(c["schedule"]),
                          paths.FORECASTS_HOURLY)
    print(forecast.day1_summary(table).pivot(index="zone", columns="model", values="mape").round(2).to_string())
    energy_stats = Path(paths.STATS_DIR) / "energy.parquet"
    if energy_stats.exists():
        for scenario in c["schedule"]["scenarios"]:
            schedule.run_schedule(paths.CARBON_TRACES, paths.FORECASTS_HOURLY, energy_stats,
                                  paths.SCHEDULE.format(scenario=scenario), schedule.scenario_config(c, scenario),
                                  cfg["seed"])
    else:
        print(f"skipping the schedule simulation: {energy_stats} does not exist yet (run `greenbench report` first)")
    return 0


def cmd_report(args) -> int:
    """aggregate -> Pareto -> paper tables and claims (figures need the carbon outputs too)."""
    import glob

    from greenbench.aggregate import aggregate
    from greenbench.energy.protocol import combine_trials
    from greenbench.fronts import write_fronts
    from greenbench.paper import write_paper

    cfg = _config(args)
    trials = sorted(glob.glob("results/energy/*/*/trial-*.parquet"))
    combine_trials(trials, paths.ENERGY_ALL)
    preds = sorted(glob.glob(paths.EVAL.format(device="*", model="*", variant="*")))
    aggregate(paths.ENERGY_ALL, preds, paths.STATS_DIR, cfg["stats"], cfg["seed"])
    write_fronts(f"{paths.STATS_DIR}/accuracy.parquet", f"{paths.STATS_DIR}/energy.parquet", paths.PARETO_POINTS,
                 paths.PARETO_HYPERVOLUME)
    schedules = [p for p in (paths.SCHEDULE.format(scenario=s) for s in cfg["carbon"]["schedule"]["scenarios"])
                 if Path(p).exists()]
    verdicts = write_paper(paths.STATS_DIR, paths.ENERGY_ALL, paths.PAPER_DIR, cfg["stats"]["bootstrap"], cfg["seed"],
                           forecast_metrics_path=paths.FORECAST_METRICS if Path(paths.FORECAST_METRICS).exists() else None,
                           schedule_path=schedules or None)
    print(verdicts[["id", "verdict"]].to_string(index=False))
    return 0


def cmd_gpu_kit(args) -> int:
    """Pack the fine-tuned baseline (half precision), tokens and wheels for an offline GPU node."""
    from greenbench.gpucheck import make_kit

    cfg = _config(args)
    spec = cfg["models"][args.model]
    baseline = Path(paths.BASELINE.format(model=args.model))
    if not baseline.exists():
        raise FileNotFoundError(f"{baseline} does not exist: fine-tune first (`snakemake --cores 1 {baseline}`)")
    manifest = make_kit(baseline, paths.TOKENS.format(model=args.model, split="train"),
                        paths.TOKENS.format(model=args.model, split="dev"), args.out, model_name=args.model,
                        max_length=spec["max_length"], wheels=args.wheel or [], dtype=args.dtype,
                        batch_size=cfg["evaluate"]["batch_size"])
    print(f"GPU kit in {args.out}: {manifest['size_mb']} MB ({manifest['source']}; wheels: "
          f"{', '.join(manifest['wheels']) or 'none'}); rounding changed {manifest['cpu_predictions_changed_by_rounding']} "
          f"of {manifest['dev_examples']} CPU predictions")
    return 0


def cmd_gpu_check(args) -> int:
    """Validate the GPU paths from a kit: accuracy, energy trials, summary.md (no Snakemake needed)."""
    from greenbench import gpucheck

    if args.list_pieces:
        for piece in gpucheck.plan_pieces():
            print(f"piece {piece.number}: {piece.description} ({len(piece.cells)} cells, {piece.settings} protocol)")
        return 0
    try:
        cfg, validated = _config(args), "validated against the schema"
    except ModuleNotFoundError as exc:  # a bare GPU node without jsonschema: the repository's own config, as CI validated it
        from greenbench.config import load_config, resolve_devices

        files = args.config or [DEFAULT_CONFIG]
        cfg = load_config([DEFAULT_CONFIG, *[f for f in files if f != DEFAULT_CONFIG]])
        cfg["study"]["devices"] = resolve_devices(cfg["study"]["devices"])
        validated = f"not schema-validated here ({exc.name} missing); {', '.join(files)} as committed"
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("no CUDA device is visible: use --device cpu for the rehearsal")
    out = Path(args.out) if args.out else gpucheck.default_out(args.device)
    if args.piece:
        out = out / f"piece-{args.piece}"
    text = gpucheck.run_check(args.kit, out, cfg, device=args.device, piece=args.piece, trials=args.trials,
                              tiny=args.tiny, budget_s=args.budget_s, validated=validated)
    print(text)
    print(f"outputs in {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", action="append", help=f"config file(s), merged in order over {DEFAULT_CONFIG}")
        p.set_defaults(func=func)
        return p

    add("validate-config", cmd_validate_config, "validate the config against the schema")
    p = add("retrieve-sst2", cmd_retrieve_sst2, "fetch SST-2 into resources/sst2/")
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p = add("prepare-dataset", cmd_prepare_dataset, "validate SST-2 TSV and write Parquet")
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p.add_argument("--tsv", help="explicit TSV path (one split only)")
    p = add("tokenize", cmd_tokenize, "tokenize SST-2 for a model")
    p.add_argument("--model", required=True)
    p.add_argument("--split", nargs="+", default=["train", "dev"])
    p = add("finetune", cmd_finetune, "fine-tune (or package) a baseline")
    p.add_argument("--model", required=True)
    p = add("evaluate", cmd_evaluate, "accuracy of variants on SST-2 dev")
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--variant", action="append")
    p = add("build-variant", cmd_build_variant, "build a variant's artifact (e.g. adaptive calibration)")
    p.add_argument("--model", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p = add("measure-energy", cmd_measure_energy, "energy/latency trials on this host")
    p.add_argument("--model", required=True)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--variant", action="append", help="default: study.variants")
    p.add_argument("--trial", type=int, action="append", help="default: all of energy.trials")
    p.add_argument("--batch-sizes", dest="batch_sizes", type=int, nargs="+")
    p.add_argument("--paddings", nargs="+", choices=["dynamic", "fixed"])
    p.add_argument("--modes", nargs="+", choices=["eager", "cuda_graph"])
    p.add_argument("--out", help="output pattern with {device}, {model}, {trial} (default: the workflow layout)")
    p = add("gpu-kit", cmd_gpu_kit, "pack the fine-tuned baseline, tokens and wheels for an offline GPU node")
    p.add_argument("--model", default="minilm")
    p.add_argument("--out", default="gpu-kit")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16"])
    p.add_argument("--wheel", action="append", help="a wheel the node lacks (e.g. torchao); repeatable")
    p = add("gpu-check", cmd_gpu_check, "validate every GPU path from a kit: accuracy, energy trials, summary.md")
    p.add_argument("--kit", default="gpu-kit")
    p.add_argument("--out", help="default: benchmarks/results/<gpu>-<date> (piece N: .../piece-N)")
    p.add_argument("--device", default="cuda", choices=["cpu", "cuda"], help="cpu: the rehearsal")
    p.add_argument("--piece", type=int, default=0, help="0: the quick check; 1..9: the rest of the paper grid")
    p.add_argument("--list-pieces", action="store_true")
    p.add_argument("--trials", type=int, help="default: energy.trials")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the CI rehearsal)")
    p.add_argument("--budget-s", dest="budget_s", type=float, default=450.0,
                   help="no trial starts that would end after this many seconds (the allocation's limit)")
    add("carbon", cmd_carbon, "carbon traces, forecasters and the scheduling simulation")
    add("report", cmd_report, "statistics, Pareto fronts, tables and the claims check from existing results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"greenbench: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f"greenbench: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
