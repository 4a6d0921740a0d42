# Helpers shared by the workflow steps.


LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"
CONDA_ENV = "../../envs/greenbench.yaml"


def lib(script):
    """The library files a rule's script imports, directly or not (derived from the imports by
    greenbench.pipeline.dag.module_closure): editing one reruns exactly the jobs that import it.
    """
    exclude = () if script in ("footprint", "paper") else INSTRUMENTATION
    return module_closure("src", f"scripts/{script}.py", exclude)


def cell_lib(script):
    """``lib(script)`` plus the plugin modules of the job's own cells (its {variant}, or every study
    cell for an energy trial): editing one recipe or runtime module reruns only the jobs that run it.
    """
    base = lib(script)

    def inputs(wildcards):
        from greenbench.cells.variants import cell_modules

        variant = getattr(wildcards, "variant", None)
        cells = [variant] if variant else config["study"]["variants"]
        modules = sorted({m for cell in cells for m in cell_modules(cell)})
        return sorted(set(base) | set(plugin_files("src", modules, INSTRUMENTATION)))

    return inputs


def artifact_of(device, model, variant):
    """The built artifact of a variant that needs one (calibration, pruned weights), where it applies."""
    from greenbench.cells.variants import get

    recipe = get(variant)
    if recipe.build is None or device not in recipe.devices:
        return []
    return [paths.VARIANT_ARTIFACT.format(device=device, model=model, variant=variant)]


def recipe_artifact(wildcards):
    """A runtime cell's build starts from its recipe's own artifact (pruned weights), if it has one."""
    from greenbench.cells.runtimes import source_recipe

    source = source_recipe(wildcards.variant)
    if source is None:
        return []
    return artifact_of(wildcards.device, wildcards.model, source)


def teacher_input(wildcards):
    """A rewrite's build reads the baseline's logits on its recovery draw, computed once per draw."""
    examples = wiring.teacher_draw(config, wildcards.variant)
    if examples is None:
        return []
    return paths.TEACHER.format(model=wildcards.model, examples=examples)


def variant_artifact(wildcards):
    return artifact_of(wildcards.device, wildcards.model, wildcards.variant)


def gpus(wildcards):
    """GPUs a device-bound job asks for: one on cuda, none on cpu (SLURM adds --gpus only when > 0)."""
    return 1 if getattr(wildcards, "device", "cpu") == "cuda" else 0


def placement(device_bound=False):
    """SLURM placement from config `hpc` (site values; empty keys leave the cluster's or profile's defaults).

    Device-bound rules (a {device} wildcard) go to `gpu_partition` with `gpu_model` on cuda and to
    `cpu_partition` on cpu; every other rule goes to `cpu_partition`. Local runs ignore these keys.
    """
    hpc = config["hpc"]
    out = {}
    if hpc["account"]:
        out["slurm_account"] = hpc["account"]
    if device_bound:
        out["gpu"] = gpus
        if hpc["cpu_partition"] or hpc["gpu_partition"]:
            out["slurm_partition"] = lambda w: hpc[
                "gpu_partition" if gpus(w) else "cpu_partition"
            ]
        if hpc["gpu_model"]:
            out["gpu_model"] = lambda w: hpc["gpu_model"] if gpus(w) else ""
    elif hpc["cpu_partition"]:
        out["slurm_partition"] = hpc["cpu_partition"]
    return out


def trace_sources():
    """carbon.sources with each entry's files (its glob resolved), or [] for the Electricity Maps exports."""
    from greenbench.carbon.traces import resolve_sources

    return resolve_sources(config["carbon"].get("sources"))


def trace_files():
    """The trace files prepare_traces reads: every carbon.sources file, else one export per zone and year."""
    sources = trace_sources()
    if sources:
        return sorted({f for spec in sources for f in spec["files"]})
    return expand(
        paths.CARBON_TRACE_CSV,
        zone=config["carbon"]["zones"],
        year=sorted(config["carbon"]["years"]),
    )


def served_energy():
    """The energy statistics the routing simulation reads when it serves a measured cell given in
    carbon.schedule.energy; none when it serves the answer or the config gives the values directly.
    """
    from greenbench.carbon.served import energy_is_given, serves_answer

    cell = config["carbon"]["schedule"]["energy"]
    if energy_is_given(cell) or serves_answer(cell):
        return []
    return [f"{paths.STATS_DIR}/energy.parquet"]


def served_answer():
    """The answer's cell (paths.SERVED, written by served_cell, chosen as the answer chooses it without reading
    the carbon table) when the routing serves it (carbon.schedule.energy set to answer).
    """
    from greenbench.carbon.served import serves_answer

    if serves_answer(config["carbon"]["schedule"]["energy"]):
        return [paths.SERVED]
    return []


def schedule_results():
    return expand(
        paths.SCHEDULE, scenario=list(config["carbon"]["schedule"]["scenarios"])
    )


def energy_artifacts(wildcards):
    """Artifacts of every study variant that needs one on this device."""
    out = []
    for variant in config["study"]["variants"]:
        out += artifact_of(wildcards.device, wildcards.model, variant)
    return out


def energy_plan_input(wildcards):
    """A trial after the first stage measures the cells the stopping plan names (greenbench.measure.energy.plan)."""
    if int(wildcards.trial) < config["energy"]["trials"]:
        return []
    return [paths.ENERGY_PLAN.format(device=wildcards.device, model=wildcards.model)]


def plan_energy_evals(wildcards):
    """With later trials for contenders only (energy.stopping.contenders), the plan reads the device's accuracies."""
    if not config["energy"]["stopping"].get("contenders"):
        return []
    return expand(
        paths.EVAL,
        device=wildcards.device,
        model=wildcards.model,
        variant=config["study"]["variants"],
    )


def all_energy_trials():
    """Every trial job: the first stage, plus the later ones on devices with sequential stopping."""
    return [
        paths.ENERGY_TRIAL.format(device=device, model=model, trial=trial)
        for device in config["study"]["devices"]
        for model in config["study"]["models"]
        for trial in range(wiring.energy_trials(config, device))
    ]


def eval_files():
    return expand(
        paths.EVAL,
        device=config["study"]["devices"],
        model=config["study"]["models"],
        variant=config["study"]["variants"],
    )


def study_builds():
    """Every build job of the study: each cell's artifact and, for a runtime cell, its recipe's own."""
    from greenbench.cells.runtimes import source_recipe

    builds = []
    for device in config["study"]["devices"]:
        for model in config["study"]["models"]:
            for cell in config["study"]["variants"]:
                builds += artifact_of(device, model, cell)
                if source_recipe(cell) is not None:
                    builds += artifact_of(device, model, source_recipe(cell))
    return list(dict.fromkeys(builds))


def teacher_draws():
    """The teacher-logits jobs: one per model and recovery draw that some build of the study reads."""
    variants = {path.split("/")[-1] for path in study_builds()}
    draws = sorted({wiring.teacher_draw(config, v) for v in variants} - {None})
    return [
        {"model": m, "examples": str(n)}
        for m in config["study"]["models"]
        for n in draws
    ]


def footprint_rows():
    """Every compute job's footprint row (greenbench.analysis.study_cost): the same jobs the DAG runs."""
    models = config["study"]["models"]
    outputs = [
        paths.TOKENS.format(model=m, split=s) for m in models for s in ("train", "dev")
    ]
    outputs += [paths.BASELINE.format(model=m) for m in models]
    outputs += study_builds()
    outputs += [paths.TEACHER.format(**job) for job in teacher_draws()]
    outputs += eval_files() + all_energy_trials() + schedule_results()
    outputs += [paths.FORECAST_METRICS, paths.FORECASTS_HOURLY, paths.AGGREGATE_JOB]
    return [paths.footprint_of(o) for o in outputs]


def all_targets():
    return [
        paths.EVAL_SUMMARY,
        paths.ENERGY_ALL,
        paths.PARETO_POINTS,
        f"{paths.PAPER_DIR}/claims.md",
        paths.FORECAST_METRICS,
        paths.FOOTPRINT,
        *schedule_results(),
        *expand(f"{paths.FIGURES_DIR}/{{name}}.png", name=figure_names()),
    ]


def figure_names():
    """Every registered figure (greenbench.report.figures), in figure order."""
    from greenbench.report.figures.figure import ordered

    return [figure.name for figure in ordered()]


def study_jobs():
    """The wildcard values of every job the study runs, per rule with wildcards (rules without run
    once). ``every_output`` expands each rule's declared outputs over them."""
    models, devices = config["study"]["models"], config["study"]["devices"]
    splits = [{"split": s} for s in ("train", "dev")]
    builds = []
    for path in study_builds():
        device, model, variant = path.split("/")[-3:]
        builds.append({"device": device, "model": model, "variant": variant})
    trials = [
        {"device": d, "model": m, "trial": str(t)}
        for d in devices
        for m in models
        for t in range(wiring.energy_trials(config, d))
    ]
    return {
        "retrieve_sst2": splits,
        "prepare_dataset": splits,
        "tokenize": [{"model": m, **s} for m in models for s in splits],
        "finetune": [{"model": m} for m in models],
        "build_variant": builds,
        "teacher_logits": teacher_draws(),
        "evaluate": [
            {"device": d, "model": m, "variant": v}
            for d in devices
            for m in models
            for v in config["study"]["variants"]
        ],
        "measure_energy": trials,
        "plan_energy": [
            {"device": d, "model": m}
            for d in devices
            for m in models
            if wiring.energy_trials(config, d) > config["energy"]["trials"]
        ],
        "retrieve_carbon": (
            []
            if trace_sources()
            else [
                {"zone": z, "year": str(y)}
                for z in config["carbon"]["zones"]
                for y in sorted(config["carbon"]["years"])
            ]
        ),
        "simulate_schedule": [
            {"scenario": s} for s in config["carbon"]["schedule"]["scenarios"]
        ],
    }


# the rules that only name targets (they declare no output)
TARGET_RULES = ("all", "carbon")
CARBON_RULES = (
    "retrieve_carbon",
    "prepare_traces",
    "forecast_carbon",
    "forecast_hourly",
    "simulate_schedule",
)


def every_output(only=None):
    """Every output every job of the study declares (of the rules in ``only``, default all): the
    default target requires them all, so a resume after a kill rebuilds an intermediate whose job was
    interrupted (Snakemake removes a job's outputs when it starts) even where its readers look up to
    date. Each rule's outputs come from its own declaration; a rule with wildcards whose jobs
    ``study_jobs`` does not list is an error here, so a new rule cannot be left out silently.
    """
    from snakemake.io import apply_wildcards

    jobs = study_jobs()
    out = []
    for declared in workflow.rules:
        if declared.name in TARGET_RULES or (
            only is not None and declared.name not in only
        ):
            continue
        patterns = [str(f) for f in declared.output]
        if not declared.wildcard_names:
            out += patterns
            continue
        if declared.name not in jobs:
            raise WorkflowError(
                f"every_output: rule {declared.name} has wildcards {sorted(declared.wildcard_names)} but "
                "study_jobs() (workflow/rules/common.smk) does not list its jobs"
            )
        out += [
            apply_wildcards(p, values)
            for values in jobs[declared.name]
            for p in patterns
        ]
    return list(dict.fromkeys(out))
