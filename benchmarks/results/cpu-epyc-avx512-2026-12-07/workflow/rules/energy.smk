rule measure_energy:
    input:
        model=paths.BASELINE,
        dev=paths.TOKENS.format(model="{model}", split="dev"),
        artifacts=energy_artifacts,
        plan=energy_plan_input,
        lib=cell_lib("measure_energy"),
    output:
        paths.ENERGY_TRIAL,
        footprint=paths.footprint_of(paths.ENERGY_TRIAL),
    log:
        f"{LOGS}/measure_energy/{{device}}/{{model}}/trial-{{trial}}.log",
    benchmark:
        f"{BENCHMARKS}/measure_energy/{{device}}/{{model}}/trial-{{trial}}.tsv"
    priority: wiring.priority(config, "measure_energy")
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "measure_energy")
    resources:
        **placement(device_bound=True),
        mem_mb=8000,
        runtime=120,
        energy_meter=1,  # one measurement at a time per host (the default profile caps it at 1)
    params:
        settings=lambda w: wiring.measure_energy(config, w.model),
    script:
        "../../scripts/measure_energy.py"


rule plan_energy:
    input:
        trials=lambda w: expand(
            paths.ENERGY_TRIAL,
            device=w.device,
            model=w.model,
            trial=range(config["energy"]["trials"]),
        ),
        evals=plan_energy_evals,
        lib=lib("plan_energy"),
    output:
        paths.ENERGY_PLAN,
    log:
        f"{LOGS}/plan_energy/{{device}}/{{model}}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        settings=lambda w: wiring.plan_energy(config, w.device),
    script:
        "../../scripts/plan_energy.py"


rule collect_energy:
    input:
        trials=all_energy_trials(),
        lib=lib("collect_energy"),
    output:
        paths.ENERGY_ALL,
    log:
        f"{LOGS}/collect_energy.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/collect_energy.py"
