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


def model_spec(wildcards):
    return config["models"][wildcards.model]


def variant_artifact(wildcards):
    """The built artifact of variants that need one (calibration, pruned weights), where they apply."""
    from greenbench.variants import get

    recipe = get(wildcards.variant)
    if recipe.build is None or wildcards.device not in recipe.devices:
        return []
    return paths.VARIANT_ARTIFACT.format(**wildcards)


def all_targets():
    return [paths.EVAL_SUMMARY]
