rule finetune_baseline:
    input:
        train=paths.TOKENS.format(model="{model}", split="train"),
        lib=lib("data", "models", "batching", "training"),
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
        mem_mb=8000,
        runtime=240,
    params:
        source=lambda w: model_spec(w)["source"],
        finetune=lambda w: model_spec(w)["finetune"],
        train=config["finetune"],
        seed=config["seed"],
    script:
        "../../scripts/finetune_baseline.py"
