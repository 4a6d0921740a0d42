"""``python -m greenbench <stage>``: every stage without Snakemake (also how stages run on a GPU host).

Paths default to the workflow's layout (greenbench.pipeline.paths) relative to the current directory,
and settings come from the same config files Snakemake reads (validated first). Each step runs the
rule's own stage (``greenbench.pipeline.stages.<rule>``) with the rule's settings
(``greenbench.pipeline.wiring.<rule>``): a step's subcommand is its rule's name with ``-`` for ``_``;
``RUNS`` names the subcommands that run several steps, ``WORKFLOW_ONLY`` the steps no subcommand runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from greenbench.pipeline import paths
from greenbench.config.load import ConfigError
from greenbench.tools.configs import DEFAULT_CONFIG, _config
from greenbench.tools.gpu_commands import cmd_gpu_check, cmd_gpu_kit
from greenbench.tools import results_commands
from greenbench.core.log import configure, get_logger

log = get_logger("cli")

# subcommands that run several workflow steps (stages), in this order where they run
RUNS = {
    "build-variant": ("teacher_logits", "build_variant"),  # a rewrite's shared teacher logits, once per draw
    "measure-energy": ("measure_energy", "plan_energy"),  # the plan before a trial after the first stage
    "carbon": ("retrieve_carbon", "prepare_traces", "forecast_carbon", "forecast_hourly", "simulate_schedule"),
    "report": (
        "collect_energy",
        "eval_summary",
        "aggregate",
        "carbon_table",
        "pareto",
        "answer",
        "served_cell",
        "paper",
    ),
}
# the steps only the workflow runs, and why
WORKFLOW_ONLY = {
    "figures": "they draw from every table of a whole run (accuracy, energy, carbon, amortization)",
    "footprint": "its rows are the energy windows the workflow's compute jobs leave (study_cost.tracked)",
    "amortize": "it reads the footprint table",
}


def cmd_validate_config(args) -> int:
    cfg = _config(args)
    print(
        f"config OK: models={cfg['study']['models']} variants={cfg['study']['variants']} devices={cfg['study']['devices']}"
    )
    return 0


def cmd_retrieve_sst2(args) -> int:
    from greenbench.pipeline import wiring

    cfg = _config(args)
    for split in args.split:
        _run("retrieve_sst2", {}, [paths.SST2_TSV.format(split=split)], wiring.retrieve_sst2(cfg), split=split)
    return 0


def cmd_prepare_dataset(args) -> int:
    for split in args.split:
        _run(
            "prepare_dataset",
            {"tsv": args.tsv or paths.SST2_TSV.format(split=split)},
            [paths.DATASET.format(split=split)],
            {},
            split=split,
        )
    return 0


def cmd_tokenize(args) -> int:
    from greenbench.pipeline import wiring

    cfg = _config(args)
    for split in args.split:
        _run(
            "tokenize",
            {"dataset": paths.DATASET.format(split=split)},
            [paths.TOKENS.format(model=args.model, split=split)],
            wiring.tokenize(cfg, args.model),
            model=args.model,
        )
    return 0


def _stage(name: str):
    """The stage module ``greenbench.pipeline.stages.<name>`` (each has ``run(job)``)."""
    import importlib

    return importlib.import_module(f"greenbench.pipeline.stages.{name}")


def _run(name: str, inputs: dict[str, Any], outputs, settings, threads: int | None = None, **wildcards: str):
    """Stage ``name`` run as its rule's job would run it: ``outputs`` a list of paths or a
    ``stages.Output`` (named outputs), ``settings`` the rule's (``wiring.<name>``)."""
    from greenbench.pipeline import stages

    outputs = outputs if isinstance(outputs, stages.Output) else stages.Output(outputs)
    return _stage(name).run(stages.job(inputs, outputs, settings, threads, **wildcards))


def _inputs(model: str) -> dict[str, str]:
    return {
        "model": paths.BASELINE.format(model=model),
        "train": paths.TOKENS.format(model=model, split="train"),
        "dev": paths.TOKENS.format(model=model, split="dev"),
    }


def cmd_finetune(args) -> int:
    from greenbench.pipeline import wiring

    cfg = _config(args)
    _run(
        "finetune",
        _inputs(args.model),
        [paths.BASELINE.format(model=args.model)],
        wiring.finetune(cfg, args.model),
        wiring.threads(cfg, "finetune"),
        model=args.model,
    )
    return 0


def _artifact(args, variant: str) -> str | None:
    """The built artifact of ``variant`` for this model and device, when the recipe has one and it exists."""
    from greenbench.cells.variants import get

    path = paths.VARIANT_ARTIFACT.format(device=args.device, model=args.model, variant=variant)
    return path if get(variant).build is not None and Path(path).exists() else None


def cmd_evaluate(args) -> int:
    from greenbench.pipeline import wiring

    cfg = _config(args)
    for variant in args.variant or cfg["study"]["variants"]:
        out = paths.EVAL.format(device=args.device, model=args.model, variant=variant)
        result = _run(
            "evaluate",
            _inputs(args.model) | {"artifact": _artifact(args, variant)},
            [out],
            wiring.evaluate(cfg, variant),
            wiring.threads(cfg, "evaluate"),
            model=args.model,
            variant=variant,
            device=args.device,
        )
        print(f"{args.model}/{variant}/{args.device}: {result['status']} accuracy={result['accuracy']}")
    return 0


def cmd_build_variant(args) -> int:
    from greenbench.pipeline import wiring
    from greenbench.cells.variants import get

    cfg = _config(args)
    if get(args.variant).build is None:
        print(f"variant '{args.variant}' has nothing to build")
        return 0
    out = paths.VARIANT_ARTIFACT.format(device=args.device, model=args.model, variant=args.variant)
    inputs = _inputs(args.model)
    examples = wiring.teacher_draw(cfg, args.variant)
    if examples is not None:  # a rewrite: the baseline's logits on its recovery draw, computed once per draw
        inputs["teacher"] = paths.TEACHER.format(model=args.model, examples=examples)
        if not Path(inputs["teacher"]).exists():
            _run(
                "teacher_logits",
                _inputs(args.model),
                [inputs["teacher"]],
                wiring.teacher_logits(cfg, examples),
                wiring.threads(cfg, "teacher_logits"),
                model=args.model,
                examples=str(examples),
            )
    _run(
        "build_variant",
        inputs,
        [out],
        wiring.build_variant(cfg, args.variant),
        wiring.threads(cfg, "build_variant"),
        model=args.model,
        variant=args.variant,
        device=args.device,
    )
    return 0


def cmd_measure_energy(args) -> int:
    """One trial (or several) on this host; on a GPU host: --device cuda.

    Several trials run one process each, as the workflow's trial jobs do: a trial's compiled
    kernels, ONNX Runtime sessions and allocator state never carry into the next one. With
    sequential stopping on, the trials after the first stage follow the plan the first stage
    gives (written beside the trials), as the workflow's plan_energy job does."""
    from greenbench.pipeline import wiring

    cfg = _config(args)
    trials = list(args.trial or range(wiring.energy_trials(cfg, args.device)))
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for trial in trials:
        if trial >= cfg["energy"]["trials"]:
            _plan(args, cfg)
        if len(trials) == 1:
            return _measure_trial(args, trial)
        process = context.Process(target=_measure_trial, args=(args, trial))
        process.start()
        process.join()
        if process.exitcode != 0:
            log.error("trial %d ended with exit code %s; later trials not run", trial, process.exitcode)
            return 1
    return 0


def _trial_path(args, trial) -> str:
    return (
        args.out.format(device=args.device, model=args.model, trial=trial)
        if args.out
        else paths.ENERGY_TRIAL.format(device=args.device, model=args.model, trial=trial)
    )


def _plan_path(args) -> str:
    if args.out:
        return str(Path(_trial_path(args, 0)).with_name("plan.parquet"))
    return paths.ENERGY_PLAN.format(device=args.device, model=args.model)


def _plan(args, cfg) -> None:
    """The stopping plan from the first stage's trial files (made once; missing trials are an error)."""
    from greenbench.pipeline import wiring

    first = [_trial_path(args, t) for t in range(cfg["energy"]["trials"])]
    missing = [f for f in first if not Path(f).exists()]
    if missing:
        raise SystemExit(f"trials after the first stage need the first stage's files; missing: {', '.join(missing)}")
    settings = wiring.plan_energy(cfg, args.device)
    evals = (
        [paths.EVAL.format(device=args.device, model=args.model, variant=v) for v in cfg["study"]["variants"]]
        if settings["contenders"]
        else []
    )
    missing = [f for f in evals if not Path(f).exists()]
    if missing:
        raise SystemExit(
            "the stopping plan reads each cell's accuracy (energy.stopping.contenders); run `greenbench evaluate` "
            f"first; missing: {', '.join(missing)}"
        )
    out = _plan_path(args)
    if Path(out).exists() and all(Path(out).stat().st_mtime >= Path(f).stat().st_mtime for f in first + evals):
        return
    _run(
        "plan_energy",
        {"trials": first, "evals": evals},
        [out],
        settings,
        model=args.model,
        device=args.device,
    )


def _measure_trial(args, trial: int) -> int:
    from greenbench.pipeline import wiring

    configure()  # a spawned trial process starts with no logging set up
    cfg = _config(args)
    names = args.variant or cfg["study"]["variants"]
    artifacts = [path for name in names if (path := _artifact(args, name)) is not None]
    settings = wiring.measure_energy(cfg, args.model, names)
    for key in ("batch_sizes", "paddings", "modes"):
        if getattr(args, key):
            settings["energy"][key] = getattr(args, key)
    inputs = _inputs(args.model) | {"artifacts": artifacts}
    if trial >= cfg["energy"]["trials"]:
        inputs["plan"] = _plan_path(args)
    _run(
        "measure_energy",
        inputs,
        [_trial_path(args, trial)],
        settings,
        wiring.threads(cfg, "measure_energy"),
        model=args.model,
        device=args.device,
        trial=str(trial),
    )
    return 0


def cmd_carbon(args) -> int:
    """retrieve and prepare traces -> forecasts -> schedule, with the layout's paths."""
    import json

    from greenbench.core import io
    from greenbench.pipeline import stages, wiring
    from greenbench.carbon import forecasting as forecast, traces

    cfg = _config(args)
    c = cfg["carbon"]
    settings = wiring.prepare_traces(cfg)
    files = (
        []
        if settings["sources"]
        else [
            _run(
                "retrieve_carbon",
                {},
                [paths.CARBON_TRACE_CSV.format(zone=z, year=y)],
                wiring.retrieve_carbon(cfg),
                zone=z,
                year=str(y),
            )
            for z in c["zones"]
            for y in sorted(c["years"])
        ]
    )
    _run("prepare_traces", {"csv": files}, [paths.CARBON_TRACES], settings)
    threads = wiring.threads(cfg, "forecast_carbon")
    settings = wiring.forecast_carbon(cfg)
    # trained once: the forecasters are reused while their settings and the traces' values are unchanged
    fingerprint = {"settings": settings, "traces": traces.content_hash(paths.CARBON_TRACES)}
    stamp = Path(paths.FORECASTER_DIR) / "inputs.json"
    if stamp.exists() and Path(paths.FORECAST_METRICS).exists() and json.loads(stamp.read_text()) == fingerprint:
        print(f"forecasters unchanged (same settings and traces): reusing {paths.FORECASTER_DIR}")
        table = io.read_parquet(paths.FORECAST_METRICS)
    else:
        table = _run(
            "forecast_carbon",
            {"traces": paths.CARBON_TRACES},
            stages.Output(metrics=paths.FORECAST_METRICS, forecasts=paths.FORECASTS, model=paths.FORECASTER_DIR),
            settings,
            threads,
        )
        io.write_json(fingerprint, stamp)
    _run(
        "forecast_hourly",
        {"traces": paths.CARBON_TRACES, "model": paths.FORECASTER_DIR},
        [paths.FORECASTS_HOURLY],
        wiring.forecast_hourly(cfg),
        threads,
    )
    print(forecast.day1_summary(table).pivot(index="zone", columns="model", values="mape").round(2).to_string())
    from greenbench.carbon.served import energy_is_given, serves_answer

    cell = c["schedule"]["energy"]
    # what the simulation serves: the answer table, a measured cell's statistics, or given values
    needed = Path(paths.SERVED if serves_answer(cell) else f"{paths.STATS_DIR}/energy.parquet")
    if energy_is_given(cell) or needed.exists():
        for scenario in c["schedule"]["scenarios"]:
            _run(
                "simulate_schedule",
                {
                    "traces": paths.CARBON_TRACES,
                    "forecasts": paths.FORECASTS_HOURLY,
                    "energy": f"{paths.STATS_DIR}/energy.parquet",
                    "answer": paths.SERVED,  # the answer's cell (stage served_cell)
                },
                [paths.SCHEDULE.format(scenario=scenario)],
                wiring.simulate_schedule(cfg, scenario),
            )
    else:
        print(f"skipping the schedule simulation: {needed} does not exist yet (run `greenbench report` first)")
    return 0


def cmd_report(args) -> int:
    """The workflow's report steps on the results present: trials -> measurements, evaluations -> their
    summary, statistics (the carbon table its own step), Pareto fronts, the answer's tables and the cell the
    routing serves, then the paper (tables, claims, answer, HTML pages), as rule `paper` writes it; the
    forecasts, schedules, footprint and amortization tables are read where they exist."""
    import glob

    from greenbench.pipeline import stages, wiring

    cfg = _config(args)
    _run(
        "collect_energy",
        {"trials": sorted(glob.glob(paths.ENERGY_TRIAL.format(device="*", model="*", trial="*")))},
        [paths.ENERGY_ALL],
        {},
    )
    preds = sorted(glob.glob(paths.EVAL.format(device="*", model="*", variant="*")))
    _run("eval_summary", {"predictions": preds}, [paths.EVAL_SUMMARY], {})
    stats = [f"{paths.STATS_DIR}/{table}.parquet" for table in paths.STATS_TABLES]
    aggregated = [f"{paths.STATS_DIR}/{table}.parquet" for table in paths.AGGREGATE_TABLES]
    _run("aggregate", {"measurements": paths.ENERGY_ALL, "predictions": preds}, aggregated, wiring.aggregate(cfg))
    _run("carbon_table", {"measurements": paths.ENERGY_ALL}, [paths.CARBON_TABLE], wiring.carbon_table(cfg))
    _run(
        "pareto",
        {
            "accuracy": f"{paths.STATS_DIR}/accuracy.parquet",
            "energy": f"{paths.STATS_DIR}/energy.parquet",
            "ratios": f"{paths.STATS_DIR}/ratios.parquet",
        },
        stages.Output(points=paths.PARETO_POINTS, hypervolume=paths.PARETO_HYPERVOLUME),
        {},
    )
    _run(
        "answer",
        {
            "accuracy": f"{paths.STATS_DIR}/accuracy.parquet",
            "energy": f"{paths.STATS_DIR}/energy.parquet",
            "carbon": paths.CARBON_TABLE,
            "measurements": paths.ENERGY_ALL,
        },
        stages.Output(
            answer=paths.ANSWER,
            traffic=paths.ANSWER_TRAFFIC,
            runtimes=paths.ANSWER_RUNTIMES,
            composed=paths.ANSWER_COMPOSED,
        ),
        wiring.answer(cfg),
    )
    _run(
        "served_cell",
        {"energy": f"{paths.STATS_DIR}/energy.parquet", "accuracy": f"{paths.STATS_DIR}/accuracy.parquet"},
        [paths.SERVED],
        wiring.served_cell(cfg),
    )
    schedules = [
        p
        for p in (paths.SCHEDULE.format(scenario=s) for s in cfg["carbon"]["schedule"]["scenarios"])
        if Path(p).exists()
    ]

    def present(path: str) -> str | None:
        return path if Path(path).exists() else None

    verdicts = _run(
        "paper",
        {
            "stats": stats,
            "measurements": paths.ENERGY_ALL,
            "forecast_metrics": present(paths.FORECAST_METRICS),
            "schedule": schedules or None,
            "footprint": present(paths.FOOTPRINT),
            "amortization": present(paths.AMORTIZATION),
            "answer": paths.ANSWER,
            "answer_traffic": paths.ANSWER_TRAFFIC,
            "answer_runtimes": paths.ANSWER_RUNTIMES,
            "answer_composed": paths.ANSWER_COMPOSED,
        },
        stages.Output(claims=f"{paths.PAPER_DIR}/claims.md"),
        wiring.paper(cfg),
    )
    print(verdicts[["id", "verdict"]].to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greenbench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="workflow-only steps (snakemake runs them):\n"
        + "\n".join(f"  {name}: {why}" for name, why in WORKFLOW_ONLY.items()),
    )
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
    p.add_argument(
        "--out",
        help="the folder to write into (on a lent node: $OUT); default: "
        "benchmarks/results/<gpu>-<date> (piece N: <gpu>-<date>-piece-N)",
    )
    p.add_argument("--device", default="cuda", choices=["cpu", "cuda"], help="cpu: the rehearsal")
    p.add_argument(
        "--piece", type=int, default=0, help="0: the quick check; 1..9: the rest of the paper grid; 10: runtimes"
    )
    p.add_argument("--list-pieces", action="store_true")
    p.add_argument("--trials", type=int, help="default: the piece's own (quick check 4, runtimes 2, grid 5)")
    p.add_argument("--estimate", action="store_true", help="print the piece's estimated wall time and stop")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the CI rehearsal)")
    p.add_argument(
        "--budget-s",
        dest="budget_s",
        type=float,
        default=570.0,
        help="no trial starts that would end after this many seconds (the allocation's limit)",
    )
    add("carbon", cmd_carbon, "carbon traces, forecasters and the scheduling simulation")
    add(
        "report",
        cmd_report,
        "measurements, statistics, Pareto fronts, tables, claims and the answer from existing results",
    )
    results_commands.add_parser(sub)
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
