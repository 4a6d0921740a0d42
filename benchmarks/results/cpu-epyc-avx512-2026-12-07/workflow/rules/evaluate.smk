rule evaluate:
    input:
        model=paths.BASELINE,
        dev=paths.TOKENS.format(model="{model}", split="dev"),
        artifact=variant_artifact,
        lib=cell_lib("evaluate"),
    output:
        paths.EVAL,
        footprint=paths.footprint_of(paths.EVAL),
    log:
        f"{LOGS}/evaluate/{{device}}/{{model}}/{{variant}}.log",
    benchmark:
        f"{BENCHMARKS}/evaluate/{{device}}/{{model}}/{{variant}}.tsv"
    conda:
        CONDA_ENV
    threads: wiring.threads(config, "evaluate")
    resources:
        **placement(device_bound=True),
        mem_mb=4000,
        runtime=60,
    params:
        settings=lambda w: wiring.evaluate(config, w.variant),
    script:
        "../../scripts/evaluate.py"


rule eval_summary:
    input:
        predictions=expand(
            paths.EVAL,
            device=config["study"]["devices"],
            model=config["study"]["models"],
            variant=config["study"]["variants"],
        ),
        lib=lib("eval_summary"),
    output:
        paths.EVAL_SUMMARY,
    log:
        f"{LOGS}/eval_summary.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../../scripts/eval_summary.py"
