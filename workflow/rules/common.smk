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


def all_targets():
    return [paths.EVAL_SUMMARY]
