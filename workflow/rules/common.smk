# Helpers shared by the workflow steps.


LOGS = "results/logs"
BENCHMARKS = "results/benchmarks"
CONDA_ENV = "../../envs/greenbench.yaml"


def lib(*modules):
    """Library modules imported by a job, as inputs (editing one reruns exactly its dependents)."""
    core = ("__init__", "log", "io", "provenance")
    return [f"src/greenbench/{m}.py" for m in dict.fromkeys(core + modules)]


def variant_modules():
    return [str(p) for p in sorted(Path("src/greenbench/variants").glob("*.py"))]


def variant_params(name):
    """A recipe's parameters: `variants.<name>` plus the shared blocks (recovery, pruning)."""
    from greenbench.variants import params_for

    return params_for(config["variants"], name)


def model_spec(wildcards):
    return config["models"][wildcards.model]


def artifact_of(device, model, variant):
    """The built artifact of a variant that needs one (calibration, pruned weights), where it applies."""
    from greenbench.variants import get

    recipe = get(variant)
    if recipe.build is None or device not in recipe.devices:
        return []
    return [paths.VARIANT_ARTIFACT.format(device=device, model=model, variant=variant)]


def variant_artifact(wildcards):
    return artifact_of(wildcards.device, wildcards.model, wildcards.variant)


def energy_modules():
    return [str(p) for p in sorted(Path("src/greenbench/energy").glob("*.py"))]


def energy_artifacts(wildcards):
    """Artifacts of every study variant that needs one on this device."""
    out = []
    for variant in config["study"]["variants"]:
        out += artifact_of(wildcards.device, wildcards.model, variant)
    return out


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
        *expand(paths.SCHEDULE, scenario=config["carbon"]["schedule"]["scenarios"]),
        *expand(f"{paths.FIGURES_DIR}/{{name}}.png", name=paths.FIGURES),
    ]
