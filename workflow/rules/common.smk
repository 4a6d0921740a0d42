# Helpers shared by the workflow steps.


LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"
CONDA_ENV = "../../envs/greenbench.yaml"


def lib(script):
    """The library files a rule's script imports, directly or not (derived from the imports by
    greenbench.workflow.module_closure): editing one reruns exactly the jobs that import it.
    """
    return module_closure("src", f"scripts/{script}.py")


def artifact_of(device, model, variant):
    """The built artifact of a variant that needs one (calibration, pruned weights), where it applies."""
    from greenbench.variants import get

    recipe = get(variant)
    if recipe.build is None or device not in recipe.devices:
        return []
    return [paths.VARIANT_ARTIFACT.format(device=device, model=model, variant=variant)]


def recipe_artifact(wildcards):
    """A runtime cell's build starts from its recipe's own artifact (pruned weights), if it has one."""
    from greenbench.runtimes import source_recipe

    source = source_recipe(wildcards.variant)
    if source is None:
        return []
    return artifact_of(wildcards.device, wildcards.model, source)


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
    """A trial after the first stage measures the cells the stopping plan names (greenbench.energy.plan)."""
    if int(wildcards.trial) < config["energy"]["trials"]:
        return []
    return [paths.ENERGY_PLAN.format(device=wildcards.device, model=wildcards.model)]


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


def all_targets():
    return [
        paths.EVAL_SUMMARY,
        paths.ENERGY_ALL,
        paths.PARETO_POINTS,
        f"{paths.PAPER_DIR}/claims.md",
        paths.FORECAST_METRICS,
        *schedule_results(),
        *expand(f"{paths.FIGURES_DIR}/{{name}}.png", name=paths.FIGURES),
    ]
