"""What each job reads from the configuration: one place, used by the Snakefile's rules (as
``params``) and by the CLI, so a new key is plumbed once.

Every rule that reads the config has ``params: settings=wiring.<rule>(config, ...)`` and nothing
else (tests/pipeline/test_wiring.py parses the rules): the function named like the rule is its whole slice,
and its stage (``greenbench.pipeline.stages.<rule>``) reads ``job.params.settings`` only. A rule that
reads no config (prepare_dataset, eval_summary, collect_energy, pareto) has no params.

Every function returns exactly the slice a job reads, in canonical form (mappings with sorted
keys, integral floats as ints): Snakemake compares a job's params by their ``repr``, so a config
rewritten with its keys in another order, or ``2.0`` for ``2``, reruns nothing, and a change to a
key reruns exactly the jobs whose slice holds it.
"""

from __future__ import annotations

from typing import Any, Mapping


def canonical(value: Any) -> Any:
    """Sorted mappings, lists element-wise, integral floats as ints (``1.0e-4`` stays a float)."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def variant_params(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A recipe's parameters: its own block plus the shared blocks it declares; a cell run by a
    runtime adds that runtime's options (``runtimes.<runtime>``) under ``runtime``."""
    from greenbench.core.names import split_name
    from greenbench.cells.variants import params_for

    params = params_for(config["variants"], name)
    runtime = split_name(name)[1]
    if runtime != "eager":
        params["runtime"] = dict((config.get("runtimes") or {}).get(runtime) or {})
    return canonical(params)


# the compute jobs that ask for compute.threads (the whole machine in `make run`): the fine-tune, which every
# other job waits for; the forecasters, which would otherwise start beside the tokenizer and hold one core
# while the fine-tune waits for two; the energy trials, which measure the machine
ALONE = ("finetune", "forecast_carbon", "measure_energy")


def trains(config: Mapping[str, Any], variant: str) -> bool:
    """Whether building ``variant`` trains it (a rewrite with a recovery of at least one epoch)."""
    from greenbench.cells.variants.trained import RECOVERY, TRAINED

    params = variant_params(config, variant)  # loads the recipe's registry entry, so TRAINED knows it
    return variant in TRAINED and int(RECOVERY.resolve(params.get("recovery"))["epochs"]) > 0


def threads(config: Mapping[str, Any], job: str) -> int:
    """Torch threads a compute job asks for. The fine-tune, the forecasters and the energy trials ask for
    ``compute.threads``; every other compute job (evaluations, builds, recoveries included, teacher logits)
    for ``compute.shared_threads``. With ``--cores`` equal to ``compute.threads`` (``make run``), two shared
    jobs run side by side, and a job that runs alone never shares the machine. The CLI runs each stage with
    the same count, so a stage's numbers do not depend on how it was started. No build runs alone, so the
    count is the rule's, whatever the variant."""
    return int(config["compute"]["threads" if runs_alone(job) else "shared_threads"])


def runs_alone(job: str) -> bool:
    """Whether a job asks for ``compute.threads`` (``threads``)."""
    return job in ALONE


def priority(config: Mapping[str, Any], job: str, variant: str | None = None) -> int:
    """Snakemake priority, so that ``make run``'s 2 cores never wait on a lone job's start:
    3 the fine-tune (every model job waits for it); 2 the other jobs that run alone (a shared job ready
    beside them would hold one core while the other idles); 1 the teacher logits and the builds that
    train (the recoveries: the long shared jobs, and the teacher logits gate them), so they start before
    the evaluations that fill the gaps; 0 the rest."""
    if job == "finetune":
        return 3
    if runs_alone(job):
        return 2
    if job == "teacher_logits" or (job == "build_variant" and variant is not None and trains(config, variant)):
        return 1
    return 0


def build_finetune(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The keys of ``finetune`` a variant's build reads (the adaptive router: which train sentences
    the baseline saw, so it calibrates on others)."""
    from greenbench.cells.variants import get

    return canonical({key: config["finetune"][key] for key in get(name).finetune_keys})


def energy_protocol(config: Mapping[str, Any]) -> dict[str, Any]:
    """The measurement protocol one trial follows: ``energy`` without ``trials`` and ``stopping``
    (how many trials there are decides which trial jobs exist and what the plan says, not what any
    trial does with a cell)."""
    return canonical({k: v for k, v in config["energy"].items() if k not in ("trials", "stopping")})


def energy_trials(config: Mapping[str, Any], device: str) -> int:
    """How many trial jobs a device has: the first stage, plus the later ones up to the cap when
    sequential stopping is on for it (the plan decides which cells each later trial measures)."""
    from greenbench.measure.energy.plan import settings_enabled

    energy = config["energy"]
    return int(energy["stopping"]["max_trials"]) if settings_enabled(energy, device) else int(energy["trials"])


def forecast_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The forecasters' settings and zones (the scheduling window is not among them)."""
    return canonical({**config["carbon"]["forecast"], "zones": config["carbon"]["zones"]})


def evaluate_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return canonical(config["evaluate"])


def finetune_settings(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    spec = config["models"][model]
    return canonical({"source": spec["source"], "finetune": spec["finetune"], "train": config["finetune"]})


def aggregate_stats(config: Mapping[str, Any]) -> dict[str, Any]:
    """Statistics settings (the bootstrap and the level; not the grids' intensities, which only the carbon
    table reads: ``carbon_table``) plus what the intervals need to know about the trials: the first stage
    (Stein's intervals take their SD from it) and each device's stopping target."""
    return canonical(
        {
            **{k: v for k, v in config["stats"].items() if k != "grid_intensities"},
            "first_stage": config["energy"]["trials"],
            "targets": {
                d: (
                    config["energy"]["stopping"]["target"].get(d, 0)
                    if energy_trials(config, d) > config["energy"]["trials"]
                    else 0
                )
                for d in config["study"]["devices"]
            },
        }
    )


# --------------------------------------------------------------------------- one settings slice per stage
# Each is a rule's ``params: settings=...`` and what the CLI hands the same stage (greenbench.pipeline.stages).
def retrieve_sst2(config: Mapping[str, Any]) -> dict[str, Any]:
    return canonical({"hub_fallback": config["data"]["hub_fallback"]})


def retrieve_carbon(config: Mapping[str, Any]) -> dict[str, Any]:
    """How one Electricity Maps export is validated before it is kept."""
    return canonical({k: config["carbon"][k] for k in ("column", "max_ci_g_per_kwh", "max_gap_hours")})


def prepare_traces(config: Mapping[str, Any]) -> dict[str, Any]:
    """The export checks, ``carbon.sources`` with each entry's files resolved (its glob), the zones and
    the years kept."""
    from greenbench.carbon.traces import resolve_sources

    return canonical(
        {
            **retrieve_carbon(config),
            "sources": resolve_sources(config["carbon"].get("sources")),
            "zones": config["carbon"]["zones"],
            "years": sorted(config["carbon"]["years"]),
        }
    )


def tokenize(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    spec = config["models"][model]
    return canonical({"source": spec["source"], "max_length": spec["max_length"]})


def finetune(config: Mapping[str, Any], model: str) -> dict[str, Any]:
    return canonical({**finetune_settings(config, model), "seed": config["seed"]})


def teacher_draw(config: Mapping[str, Any], variant: str) -> int | None:
    """The recovery draw whose shared teacher logits (rule ``teacher_logits``) the build of ``variant`` reads;
    None when it reads none."""
    from greenbench.cells.variants.trained import teacher_draw as draw

    return draw(variant_params(config, variant), variant)


def teacher_logits(config: Mapping[str, Any], examples: int) -> dict[str, Any]:
    return canonical({"examples": int(examples), "seed": config["seed"]})


def build_variant(config: Mapping[str, Any], variant: str) -> dict[str, Any]:
    return canonical(
        {
            "variant": variant_params(config, variant),
            "finetune": build_finetune(config, variant),
            "seed": config["seed"],
        }
    )


def evaluate(config: Mapping[str, Any], variant: str) -> dict[str, Any]:
    return canonical(
        {"evaluate": evaluate_settings(config), "variant": variant_params(config, variant), "seed": config["seed"]}
    )


def measure_energy(config: Mapping[str, Any], model: str, variants: list[str] | None = None) -> dict[str, Any]:
    """A trial's slice: the protocol, every cell's parameters, the cells in name order (a trial shuffles them
    with its seed, so the order of ``study.variants`` carries no meaning and reordering it reruns nothing)."""
    names = sorted(variants or config["study"]["variants"])
    return canonical(
        {
            "energy": energy_protocol(config),
            "variants": {n: variant_params(config, n) for n in names},
            "study_variants": names,
            "max_length": config["models"][model]["max_length"],
            "seed": config["seed"],
        }
    )


def plan_energy(config: Mapping[str, Any], device: str) -> dict[str, Any]:
    """The stopping rule's slice: first stage, cap, this device's target, the interval level and, when later
    trials go to contenders only (``energy.stopping.contenders``), the answer's accuracy bar."""
    energy = config["energy"]
    contenders = bool(energy["stopping"].get("contenders", False))
    return canonical(
        {
            "first_stage": energy["trials"],
            "max_trials": energy["stopping"]["max_trials"],
            "target": energy["stopping"]["target"].get(device, 0),
            "level": config["stats"]["confidence"],
            "contenders": contenders,
            **({"max_accuracy_loss_pts": config["answer"]["max_accuracy_loss_pts"]} if contenders else {}),
        }
    )


def aggregate(config: Mapping[str, Any]) -> dict[str, Any]:
    return canonical({"stats": aggregate_stats(config), "seed": config["seed"]})


def carbon_table(config: Mapping[str, Any]) -> dict[str, Any]:
    """The carbon table's grids (``stats.grid_intensities``) and the bootstrap, level and seed its intervals
    share with the other statistics (``aggregate``)."""
    stats = config["stats"]
    return canonical(
        {
            "stats": {k: stats[k] for k in ("bootstrap", "confidence", "grid_intensities")},
            "seed": config["seed"],
        }
    )


def answer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``answer`` with its traffic resolved (``answer.traffic``; null: the routing scenario's mean rate,
    ``carbon.schedule.mean_requests_per_hour`` / 3600)."""
    settings = dict(config["answer"])
    if settings.get("traffic") is None:
        settings["traffic"] = float(config["carbon"]["schedule"]["mean_requests_per_hour"]) / 3600
    return canonical(settings)


def answer(config: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's bounds, its traffic (``answer_settings``) and levels, and the first stage of trials
    (the paired ordering's interval)."""
    return canonical({"answer": answer_settings(config), "first_stage": config["energy"]["trials"]})


# what the answer's choice of cell reads (greenbench.report.answer.served_cell): not the grid its gCO2e are
# given at, nor the traffic levels of its table
SERVED_CELL_KEYS = ("max_accuracy_loss_pts", "max_latency_p95_ms", "traffic", "max_wait_ms", "max_utilisation")


def served_cell(config: Mapping[str, Any]) -> dict[str, Any]:
    """The answer's cell as the routing serves it: the answer's bounds and traffic only."""
    settings = answer_settings(config)
    return canonical({"answer": {k: settings.get(k) for k in SERVED_CELL_KEYS}})


def paper(config: Mapping[str, Any]) -> dict[str, Any]:
    """The tables, claims and answer page: the bootstrap size and seed of the claims' intervals, the first
    stage of trials and the amortization horizon the lifecycle claim looks at (the answer's settings come
    with its tables, ``answer``)."""
    return canonical(
        {
            "bootstrap": config["stats"]["bootstrap"],
            "seed": config["seed"],
            "first_stage": config["energy"]["trials"],
            "horizon": max(config["footprint"]["amortization"]["inferences"]),
        }
    )


def figures(config: Mapping[str, Any]) -> dict[str, Any]:
    """What the figures draw beside the data: the answer's accuracy bound (a line on the accuracy-energy
    Pareto figure) and p95 latency bound (hollow markers on the cells beyond it)."""
    return canonical({"answer": {k: config["answer"][k] for k in ("max_accuracy_loss_pts", "max_latency_p95_ms")}})


def forecast_carbon(config: Mapping[str, Any]) -> dict[str, Any]:
    return canonical({"forecast": forecast_settings(config), "seed": config["seed"]})


def forecast_hourly(config: Mapping[str, Any]) -> dict[str, Any]:
    from greenbench.carbon.forecasting import hourly_window

    return canonical({"forecast": forecast_settings(config), "window": hourly_window(config["carbon"]["schedule"])})


def footprint(config: Mapping[str, Any]) -> dict[str, Any]:
    """The grid the study's own footprint is priced at."""
    return canonical({"zone": config["footprint"]["zone"]})


def amortize(config: Mapping[str, Any]) -> dict[str, Any]:
    """The cell whose J/inference is amortized and the deployment volumes to tabulate."""
    return canonical(config["footprint"]["amortization"])


def simulate_schedule(config: Mapping[str, Any], scenario: str) -> dict[str, Any]:
    from greenbench.carbon.routing import scenario_config

    return canonical({"schedule": scenario_config(config["carbon"], scenario), "seed": config["seed"]})
