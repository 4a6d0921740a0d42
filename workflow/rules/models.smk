rule finetune_baseline:
    input:
        train=paths.TOKENS.format(model="{model}", split="train"),
        lib=lib("finetune_baseline"),
    output:
        directory(paths.BASELINE),
    log:
        f"{LOGS}/finetune_baseline/{{model}}.log",
    benchmark:
        f"{BENCHMARKS}/finetune_baseline/{{model}}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["threads"]
    resources:
        **placement(),
        mem_mb=8000,
        runtime=240,
    params:
        source=lambda w: model_spec(w)["source"],
        finetune=lambda w: model_spec(w)["finetune"],
        train=wiring.canonical(config["finetune"]),
        seed=config["seed"],
    script:
        "../../scripts/finetune_baseline.py"


rule build_variant:
    input:
        model=paths.BASELINE,
        train=paths.TOKENS.format(model="{model}", split="train"),
        lib=lib("build_variant"),
    output:
        directory(paths.VARIANT_ARTIFACT),
    log:
        f"{LOGS}/build_variant/{{device}}/{{model}}/{{variant}}.log",
    benchmark:
        f"{BENCHMARKS}/build_variant/{{device}}/{{model}}/{{variant}}.tsv"
    conda:
        CONDA_ENV
    threads: config["compute"]["threads"]
    resources:
        **placement(device_bound=True),
        mem_mb=8000,
        runtime=120,
    params:
        variant=lambda w: variant_params(w.variant),
        finetune=lambda w: wiring.build_finetune(config, w.variant),
        seed=config["seed"],
    script:
        "../../scripts/build_variant.py"
